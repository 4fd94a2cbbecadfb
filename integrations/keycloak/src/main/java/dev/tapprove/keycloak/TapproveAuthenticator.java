package dev.tapprove.keycloak;

import jakarta.ws.rs.core.MultivaluedMap;
import jakarta.ws.rs.core.Response;
import java.util.Map;
import org.jboss.logging.Logger;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.authentication.Authenticator;
import org.keycloak.forms.login.LoginFormsProvider;
import org.keycloak.models.ClientModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.services.managers.BruteForceProtector;
import org.keycloak.sessions.AuthenticationSessionModel;

/**
 * The login step: after the password, send a Tapprove push to the user's phones, show the
 * presence code, wait (the page long-polls {@link TapproveResource#waitForDecision}), and go on
 * only when the service says {@code accepted}. The decision is always read from the service
 * again on submit; the status endpoint is only a wake-up call.
 */
final class TapproveAuthenticator implements Authenticator {
    private static final Logger LOG = Logger.getLogger(TapproveAuthenticator.class);

    static final String NOTE_SESSION = "tapprove.session_id";
    static final String NOTE_CODE = "tapprove.presence_code";
    static final String NOTE_EXPIRES = "tapprove.expires_at";
    static final String NOTE_WAIT_TOKEN = "tapprove.wait_token";
    static final String TEMPLATE_WAIT = "tapprove-push.ftl";
    static final String TEMPLATE_RESULT = "tapprove-result.ftl";

    @Override
    public void authenticate(AuthenticationFlowContext context) {
        UserModel user = context.getUser();
        RealmModel realm = context.getRealm();
        KeycloakSession session = context.getSession();
        if (realm.isBruteForceProtected()
                && session.getProvider(BruteForceProtector.class).isTemporarilyDisabled(session, realm, user)) {
            context.getEvent().user(user).error("user_temporarily_disabled");
            context.failureChallenge(
                    AuthenticationFlowError.USER_TEMPORARILY_DISABLED, result(context, "tapproveLocked"));
            return;
        }
        TapproveConfig config;
        try {
            config = TapproveConfig.from(session, context.getAuthenticatorConfig());
        } catch (TapproveConfig.ConfigException e) {
            LOG.errorf("Tapprove push step in realm %s: %s", realm.getName(), e.getMessage());
            context.challenge(result(context, "tapproveUnavailable"));
            return;
        }
        ClientModel client = context.getAuthenticationSession().getClient();
        String app = displayName(realm, client);
        String userAgent = context.getHttpRequest().getHttpHeaders().getHeaderString("User-Agent");
        RpClient.LoginContext login =
                new RpClient.LoginContext(app, context.getConnection().getRemoteAddr(), userAgent);
        PushSession push;
        try {
            push = config.client().create(
                    user.getUsername(),
                    "Log in to " + RpClient.clip(app, 100) + "?",
                    "Someone is signing in as " + user.getUsername() + ".",
                    login,
                    config.presence(),
                    config.ttlSeconds());
        } catch (RpException e) {
            handleCreateFailure(context, e);
            return;
        }
        AuthenticationSessionModel auth = context.getAuthenticationSession();
        auth.setAuthNote(NOTE_SESSION, push.id());
        auth.setAuthNote(NOTE_CODE, push.presenceCode() == null ? "" : push.presenceCode());
        auth.setAuthNote(NOTE_EXPIRES, Long.toString(push.expiresAt()));
        String token = WaitTokens.create(
                session,
                Map.of(
                        TapproveResource.TOKEN_KIND, TapproveResource.KIND_LOGIN,
                        TapproveResource.TOKEN_REALM, realm.getId(),
                        TapproveResource.TOKEN_CONFIG, context.getAuthenticatorConfig().getId(),
                        TapproveResource.TOKEN_SESSION, push.id()),
                config.ttlSeconds() + 60L);
        auth.setAuthNote(NOTE_WAIT_TOKEN, token);
        LOG.debugf("Tapprove push session %s created for user id %s", push.id(), user.getId());
        context.challenge(waitingPage(context, config.presence(), push.presenceCode(), push.expiresAt(), token));
    }

    private void handleCreateFailure(AuthenticationFlowContext context, RpException e) {
        String realm = context.getRealm().getName();
        switch (e.kind()) {
            case NO_DEVICE -> {
                context.getEvent().user(context.getUser()).error("tapprove_no_device");
                context.challenge(result(context, "tapproveNoDevice"));
            }
            case RATE_LIMITED -> {
                context.getEvent().user(context.getUser()).error("tapprove_rate_limited");
                long minutes = Math.max(1, (e.retryAfterSeconds() + 59) / 60);
                context.challenge(context.form()
                        .setError("tapproveRateLimited", Long.toString(minutes))
                        .createForm(TEMPLATE_RESULT));
            }
            case LOCKED -> {
                context.getEvent().user(context.getUser()).error("tapprove_locked");
                long minutes = Math.max(1, (e.retryAfterSeconds() + 59) / 60);
                context.challenge(context.form()
                        .setError("tapproveServiceLocked", Long.toString(minutes))
                        .createForm(TEMPLATE_RESULT));
            }
            case UNAUTHORIZED -> {
                LOG.errorf("Tapprove push step in realm %s: the service refused the API key (%s); check the step's API key", realm, e.getMessage());
                context.challenge(result(context, "tapproveUnavailable"));
            }
            default -> {
                LOG.errorf("Tapprove push step in realm %s: %s", realm, e.getMessage());
                context.challenge(result(context, "tapproveUnavailable"));
            }
        }
    }

    @Override
    public void action(AuthenticationFlowContext context) {
        AuthenticationSessionModel auth = context.getAuthenticationSession();
        String sessionId = auth.getAuthNote(NOTE_SESSION);
        if (sessionId == null) {
            // No push in flight (e.g. a stale tab): start this step over.
            authenticate(context);
            return;
        }
        TapproveConfig config;
        try {
            config = TapproveConfig.from(context.getSession(), context.getAuthenticatorConfig());
        } catch (TapproveConfig.ConfigException e) {
            LOG.errorf("Tapprove push step in realm %s: %s", context.getRealm().getName(), e.getMessage());
            context.challenge(result(context, "tapproveUnavailable"));
            return;
        }
        MultivaluedMap<String, String> form = context.getHttpRequest().getDecodedFormParameters();
        if (form.containsKey("cancel")) {
            try {
                config.client().cancel(sessionId);
            } catch (RpException e) {
                LOG.warnf("Tapprove: could not cancel push session %s: %s", sessionId, e.getMessage());
            }
            clearNotes(auth);
            context.cancelLogin();
            return;
        }
        PushSession push;
        try {
            push = config.client().get(sessionId, 0);
        } catch (RpException e) {
            LOG.errorf("Tapprove push step in realm %s: %s", context.getRealm().getName(), e.getMessage());
            context.challenge(result(context, "tapproveUnavailable"));
            return;
        }
        decide(context, config, push);
    }

    /** One home for what each outcome of the service means for this login. */
    private void decide(AuthenticationFlowContext context, TapproveConfig config, PushSession push) {
        AuthenticationSessionModel auth = context.getAuthenticationSession();
        if (!push.isFinal()) {
            long expires = parseLong(auth.getAuthNote(NOTE_EXPIRES));
            context.challenge(waitingPage(context, config.presence(), push.presenceCode(), expires, auth.getAuthNote(NOTE_WAIT_TOKEN)));
            return;
        }
        clearNotes(auth);
        String reason = push.reason() == null ? "" : push.reason();
        context.getEvent().detail("tapprove_session", push.id()).detail("tapprove_reason", reason);
        switch (push.status()) {
            case ACCEPTED -> context.success();
            case REJECTED -> {
                String message = switch (reason) {
                    case "wrong_number" -> "tapproveWrongNumber";
                    case "fraud_reported" -> "tapproveFraudReported";
                    default -> "tapproveDenied";
                };
                countFailure(context);
                if ("fraud_reported".equals(reason)) {
                    LOG.warnf("Tapprove: user id %s reported a login in realm %s as not theirs (push session %s)",
                            context.getUser().getId(), context.getRealm().getName(), push.id());
                }
                context.failureChallenge(AuthenticationFlowError.INVALID_CREDENTIALS, result(context, message));
            }
            case EXPIRED -> context.failureChallenge(AuthenticationFlowError.EXPIRED_CODE, result(context, "tapproveExpired"));
            case CANCELED -> context.failureChallenge(
                    AuthenticationFlowError.GENERIC_AUTHENTICATION_ERROR,
                    result(context, switch (reason) {
                        case "superseded" -> "tapproveSuperseded";
                        case "device_revoked" -> "tapproveDeviceRevoked";
                        default -> "tapproveCanceled";
                    }));
            case ERROR -> context.failureChallenge(
                    AuthenticationFlowError.GENERIC_AUTHENTICATION_ERROR,
                    result(context, "no_device".equals(reason) ? "tapproveNoDevice" : "tapproveDeliveryFailed"));
            default -> context.challenge(result(context, "tapproveUnavailable"));
        }
    }

    /**
     * A rejected push is a failed login for Keycloak's brute-force detection. Keycloak counts
     * only the password/OTP/recovery-code categories by itself, so the step reports it (as a
     * primary failure, like a wrong password). Expiry and service trouble do not count.
     */
    private static void countFailure(AuthenticationFlowContext context) {
        RealmModel realm = context.getRealm();
        if (realm.isBruteForceProtected()) {
            context.getSession().getProvider(BruteForceProtector.class)
                    .failedLogin(realm, context.getUser(), context.getConnection(), context.getUriInfo(), null);
        }
    }

    private static Response waitingPage(
            AuthenticationFlowContext context, String presence, String code, long expiresAt, String token) {
        RealmModel realm = context.getRealm();
        String waitUrl = context.getSession().getContext().getUri().getBaseUriBuilder()
                .path("realms").path(realm.getName()).path(TapproveResourceProviderFactory.PROVIDER_ID).path("wait")
                .queryParam("token", token)
                .build()
                .toString();
        return context.form()
                .setAttribute("tapprovePresence", presence)
                .setAttribute("tapproveCode", code == null ? "" : code)
                .setAttribute("tapproveExpiresAt", expiresAt)
                .setAttribute("tapproveWaitUrl", waitUrl)
                .createForm(TEMPLATE_WAIT);
    }

    private static Response result(AuthenticationFlowContext context, String messageKey) {
        LoginFormsProvider form = context.form().setError(messageKey);
        return form.createForm(TEMPLATE_RESULT);
    }

    private static void clearNotes(AuthenticationSessionModel auth) {
        auth.removeAuthNote(NOTE_SESSION);
        auth.removeAuthNote(NOTE_CODE);
        auth.removeAuthNote(NOTE_EXPIRES);
        auth.removeAuthNote(NOTE_WAIT_TOKEN);
    }

    /** What the phone shows as the app: the client's name, else its id, else the realm's. */
    static String displayName(RealmModel realm, ClientModel client) {
        if (client != null && client.getName() != null && !client.getName().isBlank() && !client.getName().startsWith("${")) {
            return client.getName();
        }
        if (client != null && client.getClientId() != null) {
            return client.getClientId();
        }
        return realm.getDisplayName() != null ? realm.getDisplayName() : realm.getName();
    }

    private static long parseLong(String s) {
        try {
            return s == null ? 0 : Long.parseLong(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    @Override
    public boolean requiresUser() {
        return true;
    }

    @Override
    public boolean configuredFor(KeycloakSession session, RealmModel realm, UserModel user) {
        return TapproveCredential.isPaired(user);
    }

    @Override
    public void setRequiredActions(KeycloakSession session, RealmModel realm, UserModel user) {
        user.addRequiredAction(TapproveEnrollActionFactory.PROVIDER_ID);
    }

    @Override
    public void close() {}
}
