package dev.tapprove.keycloak;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.keycloak.events.Details;
import org.keycloak.events.Event;
import org.keycloak.events.EventType;

class TapproveEventListenerTest {
    private static Event event(EventType type, Map<String, String> details) {
        Event e = new Event();
        e.setType(type);
        e.setDetails(details);
        return e;
    }

    @Test
    void everyWayToSetANewPasswordLiftsTheLock() {
        assertTrue(TapproveEventListener.isNewPassword(event(EventType.UPDATE_PASSWORD, null)));
        assertTrue(TapproveEventListener.isNewPassword(event(EventType.RESET_PASSWORD, Map.of())));
        assertTrue(TapproveEventListener.isNewPassword(
                event(EventType.UPDATE_CREDENTIAL, Map.of(Details.CREDENTIAL_TYPE, "password"))));
    }

    @Test
    void otherCredentialsAndFailuresDoNot() {
        assertFalse(TapproveEventListener.isNewPassword(
                event(EventType.UPDATE_CREDENTIAL, Map.of(Details.CREDENTIAL_TYPE, "otp"))));
        assertFalse(TapproveEventListener.isNewPassword(event(EventType.UPDATE_CREDENTIAL, null)));
        assertFalse(TapproveEventListener.isNewPassword(event(EventType.UPDATE_PASSWORD_ERROR, null)));
        assertFalse(TapproveEventListener.isNewPassword(event(EventType.LOGIN, null)));
    }
}
