package dev.tapprove.keycloak;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import org.keycloak.credential.CredentialModel;
import org.keycloak.models.UserModel;

/**
 * Keycloak's record that a user paired a phone through this realm. It holds no secret (the
 * device key stays on the phone, the public key at the service); it makes the pairing visible
 * and removable in the admin and account consoles, and tells the login flow that the user is set
 * up.
 */
final class TapproveCredential {
    /** The credential type. */
    static final String TYPE = "tapprove-device";

    private static final DateTimeFormatter LABEL_TIME =
            DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").withZone(ZoneOffset.UTC);

    private TapproveCredential() {}

    /** Records a pairing the trust webhook accepted. */
    static void recordPairing(UserModel user, long nowMillis) {
        CredentialModel model = new CredentialModel();
        model.setType(TYPE);
        model.setUserLabel("Tapprove phone, paired " + LABEL_TIME.format(Instant.ofEpochMilli(nowMillis)));
        model.setCreatedDate(nowMillis);
        model.setSecretData("{}");
        model.setCredentialData("{}");
        user.credentialManager().createStoredCredential(model);
    }

    /** Removes every pairing record of the user (the service has no device of theirs left). */
    static void forget(UserModel user) {
        user.credentialManager()
                .getStoredCredentialsByTypeStream(TYPE)
                .map(CredentialModel::getId)
                .toList()
                .forEach(id -> user.credentialManager().removeStoredCredentialById(id));
    }

    static boolean isPaired(UserModel user) {
        return user.credentialManager().getStoredCredentialsByTypeStream(TYPE).findAny().isPresent();
    }

    /** Whether a pairing was recorded at or after {@code sinceMillis}. */
    static boolean pairedSince(UserModel user, long sinceMillis) {
        return user.credentialManager()
                .getStoredCredentialsByTypeStream(TYPE)
                .anyMatch(c -> c.getCreatedDate() != null && c.getCreatedDate() >= sinceMillis);
    }
}
