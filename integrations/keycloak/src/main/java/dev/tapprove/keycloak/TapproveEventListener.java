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
 * Keeps the service in step with what happens to the user in Keycloak.
 *
 * <p>A new password (user events {@code UPDATE_PASSWORD}, {@code UPDATE_CREDENTIAL} of type
 * password, {@code RESET_PASSWORD}; admin event {@code ACTION users/{id}/reset-password}) lifts
 * the lock the service put on the user after "not me" ({@code DELETE /v1/users/{user}/lock}):
 * the login page tells a locked user to change the password, and whoever reported the sign-in
 * can do that (the forgot-password flow proves the mailbox) while whoever knew the old password
 * cannot.
 *
 * <p>When a user's last {@link TapproveCredential} record is removed (account console: user event
 * {@code REMOVE_CREDENTIAL}; admin console: admin event {@code ACTION users/{id}/credentials/…}),
 * revokes all of the user's devices at the service ({@code DELETE /v1/users/{user}/devices}), so a
 * phone Keycloak forgot cannot go on approving sign-ins.
 */
final class TapproveEventListener implements EventListenerProvider {
    private static final Logger LOG = Logger.getLogger(TapproveEventListener.class);
    private static final Pattern ADMIN_CREDENTIAL_PATH = Pattern.compile("^users/([^/]+)/credentials/([^/]+)$");
    private static final Pattern ADMIN_RESET_PASSWORD_PATH = Pattern.compile("^users/([^/]+)/reset-password$");

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
        } else if (isNewPassword(event)) {
            liftLock(event.getRealmId(), event.getUserId());
        }
    }

    static boolean isNewPassword(Event event) {
        return switch (event.getType()) {
            case UPDATE_PASSWORD, RESET_PASSWORD -> true;
            case UPDATE_CREDENTIAL -> event.getDetails() != null
                    && "password".equals(event.getDetails().get(Details.CREDENTIAL_TYPE));
            default -> false;
        };
    }

    @Override
    public void onEvent(AdminEvent event, boolean includeRepresentation) {
        // Keycloak 26 reports the admin console's credential removal as ACTION on that path.
        OperationType op = event.getOperationType();
        if ((op != OperationType.ACTION && op != OperationType.DELETE) || event.getResourcePath() == null) {
            return;
        }
        Matcher reset = ADMIN_RESET_PASSWORD_PATH.matcher(event.getResourcePath());
        if (reset.matches()) {
            liftLock(event.getRealmId(), reset.group(1));
            return;
        }
        Matcher m = ADMIN_CREDENTIAL_PATH.matcher(event.getResourcePath());
        if (m.matches()) {
            // The event does not say which type went: revoking is idempotent, and a user without a record has no phone to keep.
            revokeIfUnpaired(event.getRealmId(), m.group(1), m.group(2));
        }
    }

    private void liftLock(String realmId, String userId) {
        UserContext target = resolve(realmId, userId);
        if (target == null) {
            return;
        }
        try {
            target.config().client().liftLock(target.user().getUsername());
            LOG.infof("Tapprove: new password for user id %s in realm %s; lifted any lock at the service", userId, target.realm().getName());
        } catch (RpException e) {
            LOG.errorf("Tapprove: new password for user id %s in realm %s but the service's lock could not be lifted "
                    + "(the site can call DELETE /v1/users/{user}/lock): %s", userId, target.realm().getName(), e.getMessage());
        }
    }

    private record UserContext(RealmModel realm, UserModel user, TapproveConfig config) {}

    /** The realm, user and Tapprove step config the event is about; null when any is missing. */
    private UserContext resolve(String realmId, String userId) {
        RealmModel realm = realmId == null ? null : session.realms().getRealm(realmId);
        if (realm == null || userId == null) {
            return null;
        }
        if (session.getContext().getRealm() == null) {
            session.getContext().setRealm(realm);
        }
        UserModel user = session.users().getUserById(realm, userId);
        if (user == null) {
            return null;
        }
        try {
            return new UserContext(realm, user, TapproveConfig.forRealm(session, realm));
        } catch (TapproveConfig.ConfigException e) {
            LOG.debugf("Tapprove: realm %s has no Tapprove step, nothing to tell the service: %s", realm.getName(), e.getMessage());
            return null;
        }
    }

    /** {@code removedId}: the credential just removed, which a transaction not yet committed may still show. */
    private void revokeIfUnpaired(String realmId, String userId, String removedId) {
        UserContext target = resolve(realmId, userId);
        if (target == null || target.user().credentialManager()
                .getStoredCredentialsByTypeStream(TapproveCredential.TYPE)
                .anyMatch(c -> !c.getId().equals(removedId))) {
            return;
        }
        try {
            target.config().client().revokeAllDevices(target.user().getUsername());
            LOG.infof("Tapprove: pairing removed for user id %s in realm %s; revoked the user's devices", userId, target.realm().getName());
        } catch (RpException e) {
            LOG.errorf("Tapprove: pairing removed for user id %s in realm %s but the devices could not be revoked "
                    + "(revoke them with `tapprove admin device revoke --user`): %s", userId, target.realm().getName(), e.getMessage());
        }
    }

    @Override
    public void close() {}
}
