package dev.tapprove.keycloak;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class DevicesPageTest {
    @Test
    void aDeviceNameFromTheServiceCannotInjectMarkup() {
        RpClient.Device evil = new RpClient.Device(
                "acc_\"><script>", "<img src=x onerror=alert(1)>", "apns", 1_800_000_000L, null, "hardware");
        String html = DevicesPage.render("Acme", "al<ice", List.of(evil), "tok", "https://sso.example/realms/acme/account",
                DevicesPage.Notice.NONE, false);
        assertFalse(html.contains("<img"), html);
        assertFalse(html.contains("<script>"), html);
        assertTrue(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assertTrue(html.contains("al&lt;ice"));
        assertTrue(html.contains("2027-01-15 08:00 UTC"), html);
        assertTrue(html.contains("<td>never</td>"));
        assertTrue(html.contains("<td>iOS</td>"));
    }

    @Test
    void platformsReadAsTheUserKnowsThem() {
        assertEquals("iOS", DevicesPage.platform("apns"));
        assertEquals("Android", DevicesPage.platform("fcm"));
        assertEquals("no push", DevicesPage.platform("none"));
        assertEquals("webpush", DevicesPage.platform("webpush"));
    }

    @Test
    void noDevicesSaysSo() {
        String html = DevicesPage.render("Acme", "alice", List.of(), "tok", "/account", DevicesPage.Notice.REMOVED, false);
        assertTrue(html.contains("id=\"tapprove-no-devices\""));
        assertTrue(html.contains("can no longer approve"));
    }

    @Test
    void pathSegmentsAreEncoded() {
        assertEquals("a%20b%2Fc", RpClient.encodePath("a b/c"));
    }
}
