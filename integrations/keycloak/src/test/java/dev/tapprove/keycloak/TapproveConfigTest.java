package dev.tapprove.keycloak;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TapproveConfigTest {
    private static Map<String, String> valid() {
        Map<String, String> c = new HashMap<>();
        c.put(TapproveConfig.SERVICE_URL, "http://127.0.0.1:8080");
        c.put(TapproveConfig.API_KEY, "${vault.api}");
        c.put(TapproveConfig.SDK_KEY, "tap_sdk_x");
        c.put(TapproveConfig.WEBHOOK_USERNAME, "prj_1");
        c.put(TapproveConfig.WEBHOOK_PASSWORD, "pw");
        c.put(TapproveConfig.WEBHOOK_SECRET, "whsec_c2VjcmV0");
        return c;
    }

    private static final java.util.function.UnaryOperator<String> VAULT =
            v -> v.equals("${vault.api}") ? "tap_api_from_vault" : v.startsWith("${vault.") ? null : v;

    @Test
    void defaultsAndVault() throws Exception {
        TapproveConfig c = TapproveConfig.parse(valid(), VAULT);
        assertEquals("choose", c.presence());
        assertEquals(120, c.ttlSeconds());
        assertEquals("http://127.0.0.1:8080", c.publicServiceUrl().toString());
        assertTrue(c.toString().indexOf("tap_api") < 0, "no secret in toString");
    }

    @Test
    void clearMessagesForBadSettings() {
        Map<String, String> c = valid();
        c.put(TapproveConfig.SERVICE_URL, "http://tapprove.example");
        assertTrue(assertThrows(TapproveConfig.ConfigException.class, () -> TapproveConfig.parse(c, VAULT))
                .getMessage().contains("use https"));
        Map<String, String> v = valid();
        v.put(TapproveConfig.WEBHOOK_PASSWORD, "${vault.missing}");
        assertTrue(assertThrows(TapproveConfig.ConfigException.class, () -> TapproveConfig.parse(v, VAULT))
                .getMessage().contains("vault"));
        Map<String, String> p = valid();
        p.put(TapproveConfig.PRESENCE, "tap");
        assertThrows(TapproveConfig.ConfigException.class, () -> TapproveConfig.parse(p, VAULT));
        Map<String, String> t = valid();
        t.put(TapproveConfig.TTL_SECONDS, "3600");
        assertThrows(TapproveConfig.ConfigException.class, () -> TapproveConfig.parse(t, VAULT));
        Map<String, String> m = valid();
        m.remove(TapproveConfig.SDK_KEY);
        assertTrue(assertThrows(TapproveConfig.ConfigException.class, () -> TapproveConfig.parse(m, VAULT))
                .getMessage().contains(TapproveConfig.SDK_KEY));
    }
}
