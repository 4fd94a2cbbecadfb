package dev.tapprove.keycloak;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jboss.logging.Logger;
import org.keycloak.events.Details;
import org.keycloak.events.Event;
import org.keycloak.events.EventListenerProvider;
import org.keycloak.events.EventType;
import org.keycloak.events.admin.AdminEvent;
import org.keycloak.events.admin.OperationType;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;

/**
 * When a user's last {@link TapproveCredential} record is removed (account console: user event
 * {@code REMOVE_CREDENTIAL}; admin console: admin event {@code ACTION users/{id}/credentials/…}),
 * revokes all of the user's devices at the service ({@code DELETE /v1/users/{user}/devices}), so a
 * phone Keycloak forgot cannot go on approving sign-ins.
 */
final class TapproveEventListener implements EventListenerProvider {
    private static final Logger LOG = Logger.getLogger(TapproveEventListener.class);
    private static final Pattern ADMIN_CREDENTIAL_PATH = Pattern.compile("^users/([^/]+)/credentials/([^/]+)$");

    private final KeycloakSession session;

    TapproveEventListener(KeycloakSession session) {
        this.session = session;
    }

    @Override
    public void onEvent(Event event) {
        if (event.getType() == EventType.REMOVE_CREDENTIAL
                && event.getDetails() != null
                && TapproveCredential.TYPE.equals(event.getDetails().get(Details.CREDENTIAL_TYPE))) {
            revokeIfUnpaired(event.getRealmId(), event.getUserId(), event.getDetails().get(Details.CREDENTIAL_ID));
        }
    }

    @Override
    public void onEvent(AdminEvent event, boolean includeRepresentation) {
        // Keycloak 26 reports the admin console's credential removal as ACTION on that path.
        OperationType op = event.getOperationType();
        if ((op != OperationType.ACTION && op != OperationType.DELETE) || event.getResourcePath() == null) {
            return;
        }
        Matcher m = ADMIN_CREDENTIAL_PATH.matcher(event.getResourcePath());
        if (m.matches()) {
            // The event does not say which type went: revoking is idempotent, and a user without a record has no phone to keep.
            revokeIfUnpaired(event.getRealmId(), m.group(1), m.group(2));
        }
    }

    /** {@code removedId}: the credential just removed, which a transaction not yet committed may still show. */
    private void revokeIfUnpaired(String realmId, String userId, String removedId) {
        RealmModel realm = realmId == null ? null : session.realms().getRealm(realmId);
        if (realm == null || userId == null) {
            return;
        }
        if (session.getContext().getRealm() == null) {
            session.getContext().setRealm(realm);
        }
        UserModel user = session.users().getUserById(realm, userId);
        if (user == null || user.credentialManager()
                .getStoredCredentialsByTypeStream(TapproveCredential.TYPE)
                .anyMatch(c -> !c.getId().equals(removedId))) {
            return;
        }
        TapproveConfig config;
        try {
            config = TapproveConfig.forRealm(session, realm);
        } catch (TapproveConfig.ConfigException e) {
            LOG.debugf("Tapprove: realm %s has no Tapprove step, nothing to revoke: %s", realm.getName(), e.getMessage());
            return;
        }
        try {
            config.client().revokeAllDevices(user.getUsername());
            LOG.infof("Tapprove: pairing removed for user id %s in realm %s; revoked the user's devices", userId, realm.getName());
        } catch (RpException e) {
            LOG.errorf("Tapprove: pairing removed for user id %s in realm %s but the devices could not be revoked "
                    + "(revoke them with `tapprove admin device revoke --user`): %s", userId, realm.getName(), e.getMessage());
        }
    }

    @Override
    public void close() {}
}
