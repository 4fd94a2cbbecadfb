package dev.tapprove.keycloak;

import com.google.zxing.WriterException;
import jakarta.ws.rs.core.Response;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.jboss.logging.Logger;
import org.keycloak.authentication.InitiatedActionSupport;
import org.keycloak.authentication.RequiredActionContext;
import org.keycloak.authentication.RequiredActionFactory;
import org.keycloak.authentication.RequiredActionProvider;
import org.keycloak.common.util.Time;
import org.keycloak.models.Constants;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.RequiredActionConfigModel;
import org.keycloak.models.UserModel;
import org.keycloak.models.UserSessionModel;
import org.keycloak.services.managers.AuthenticationManager;

/**
 * "Pair a phone with Tapprove": shows the logged-in user a pairing code, the enrollment link and
 * its QR code. The phone sends user and code to the service, the service asks this realm's trust
 * webhook ({@link TapproveResource#trust}), and the page moves on once the pairing is recorded.
 *
 * <p>Pairing a phone gives it the power to approve every later sign-in, so it needs a recent
 * sign-in: within the action's {@code max_auth_age} (Keycloak's "Maximum Age of
 * Authentication" on the required action; default 5 minutes). Keycloak enforces that for the
 * account console's "Set up" ({@code kc_action}); this class enforces it when the action runs
 * on a browser's old single-sign-on session (a pending required action reached with the SSO
 * cookie): that session is ended and the user signs in again before any code is shown.
 */
final class TapproveEnrollAction implements RequiredActionProvider {
    private static final Logger LOG = Logger.getLogger(TapproveEnrollAction.class);
    static final String NOTE_ISSUED_AT = "tapprove.enroll.issued_at_ms";
    /** The code on the page, kept in the (server-side) authentication session so "not paired
     * yet" can show the same code again instead of voiding the one the phone may be using. */
    static final String NOTE_CODE = "tapprove.enroll.code";
    static final String TEMPLATE = "tapprove-enroll.ftl";

    @Override
    public InitiatedActionSupport initiatedActionSupport() {
        return InitiatedActionSupport.SUPPORTED;
    }

    @Override
    public void evaluateTriggers(RequiredActionContext context) {
        // Triggered by the push step (user not set up), an admin, or the account console.
    }

    @Override
    public void requiredActionChallenge(RequiredActionContext context) {
        if (signInTooOld(context)) {
            requireFreshSignIn(context);
            return;
        }
        context.challenge(enrollmentPage(context, null, false));
    }

    @Override
    public int getMaxAuthAge(KeycloakSession session) {
        return maxAuthAge(session.getContext().getRealm());
    }

    /** The action's configured {@code max_auth_age} in seconds, else Keycloak's 5 minutes. */
    static int maxAuthAge(RealmModel realm) {
        RequiredActionConfigModel config = realm == null
                ? null
                : realm.getRequiredActionConfigByAlias(TapproveEnrollActionFactory.PROVIDER_ID);
        if (config != null && config.containsConfigKey(Constants.MAX_AUTH_AGE_KEY)) {
            try {
                int seconds = RequiredActionFactory.parseMaxAuthAge(config);
                if (seconds >= 0) {
                    return seconds;
                }
            } catch (NumberFormatException e) {
                LOG.warnf("Tapprove enrollment in realm %s: max_auth_age is not a number; using %d s",
                        realm.getName(), Constants.KC_ACTION_MAX_AGE);
            }
        }
        return Constants.KC_ACTION_MAX_AGE;
    }

    /**
     * True when this browser did not sign in during this flow (it came in on the SSO cookie)
     * and its session's sign-in is older than {@link #maxAuthAge}.
     */
    private static boolean signInTooOld(RequiredActionContext context) {
        var auth = context.getAuthenticationSession();
        if (auth.getAuthNote(AuthenticationManager.SSO_AUTH) == null) {
            return false; // the credentials were checked just now
        }
        UserSessionModel userSession = userSession(context);
        long authTime = userSession == null ? 0 : parseLong(userSession.getNote(AuthenticationManager.AUTH_TIME));
        return authTime <= 0 || Time.currentTime() - authTime > maxAuthAge(context.getRealm());
    }

    private static UserSessionModel userSession(RequiredActionContext context) {
        return context.getSession().sessions().getUserSession(
                context.getRealm(), context.getAuthenticationSession().getParentSession().getId());
    }

    /** Ends the old SSO session and asks the user to sign in again (the link restarts the flow). */
    private static void requireFreshSignIn(RequiredActionContext context) {
        UserSessionModel userSession = userSession(context);
        if (userSession != null) {
            AuthenticationManager.backchannelLogout(context.getSession(), userSession, true);
        }
        LOG.infof("Tapprove enrollment for %s: the sign-in is older than %d s; signing in again first",
                context.getUser().getUsername(), maxAuthAge(context.getRealm()));
        context.getEvent().detail("tapprove", "reauthentication_required");
        context.challenge(context.form()
                .setError("tapproveSignInAgain")
                .createForm(TapproveAuthenticator.TEMPLATE_RESULT));
    }

    @Override
    public void processAction(RequiredActionContext context) {
        if (signInTooOld(context)) {
            requireFreshSignIn(context);
            return;
        }
        UserModel user = context.getUser();
        if (context.getHttpRequest().getDecodedFormParameters().containsKey("newCode")) {
            context.challenge(enrollmentPage(context, null, false));
            return;
        }
        long since = parseLong(context.getAuthenticationSession().getAuthNote(NOTE_ISSUED_AT));
        if (since > 0 && TapproveCredential.pairedSince(user, since)) {
            context.getAuthenticationSession().removeAuthNote(NOTE_ISSUED_AT);
            context.getAuthenticationSession().removeAuthNote(NOTE_CODE);
            context.getEvent().detail("tapprove", "paired").success();
            context.success();
            return;
        }
        context.challenge(enrollmentPage(context, "tapproveNotPairedYet", true));
    }

    /**
     * Renders the page with a fresh code (replacing the previous one), or with {@code keepCode}
     * the code already shown if it is still the user's pending one and unexpired.
     */
    private Response enrollmentPage(RequiredActionContext context, String error, boolean keepCode) {
        TapproveConfig config;
        try {
            config = TapproveConfig.forRealm(context.getSession(), context.getRealm());
        } catch (TapproveConfig.ConfigException e) {
            LOG.errorf("Tapprove enrollment in realm %s: %s", context.getRealm().getName(), e.getMessage());
            return context.form().setError("tapproveUnavailable").createForm(TapproveAuthenticator.TEMPLATE_RESULT);
        }
        UserModel user = context.getUser();
        var auth = context.getAuthenticationSession();
        UserAttributeSlot slot = new UserAttributeSlot(context.getSession(), user);
        long nowMs = System.currentTimeMillis();
        long shownAtMs = parseLong(auth.getAuthNote(NOTE_ISSUED_AT));
        String code = auth.getAuthNote(NOTE_CODE);
        long shownAtSeconds = shownAtMs / 1000;
        boolean stillPending = slot.read()
                .filter(p -> p.issuedAt() == shownAtSeconds
                        && nowMs / 1000 <= p.issuedAt() + PairingCodeStore.LIFETIME_SECONDS)
                .isPresent();
        if (!keepCode || code == null || !stillPending) {
            code = config.codeStore().issue(user.getId(), slot, nowMs / 1000);
            shownAtMs = nowMs;
            auth.setAuthNote(NOTE_ISSUED_AT, Long.toString(nowMs));
            auth.setAuthNote(NOTE_CODE, code);
        }
        String display = PairingCode.display(code);
        String uri = "tapprove://pair?server=" + enc(config.publicServiceUrl().toString())
                + "&sdk_key=" + enc(config.sdkKey()) + "&user=" + enc(user.getUsername()) + "&code=" + enc(display);
        String token = WaitTokens.create(
                context.getSession(),
                Map.of(
                        TapproveResource.TOKEN_KIND, TapproveResource.KIND_ENROLL,
                        TapproveResource.TOKEN_REALM, context.getRealm().getId(),
                        TapproveResource.TOKEN_USER, user.getId(),
                        TapproveResource.TOKEN_SINCE, Long.toString(shownAtMs)),
                PairingCodeStore.LIFETIME_SECONDS);
        String statusUrl = context.getSession().getContext().getUri().getBaseUriBuilder()
                .path("realms").path(context.getRealm().getName()).path(TapproveResourceProviderFactory.PROVIDER_ID)
                .path("enrollment").queryParam("token", token).build().toString();
        String qr;
        try {
            qr = QrCode.svgDataUri(uri);
        } catch (WriterException e) {
            LOG.warnf("Tapprove enrollment: cannot draw the QR code: %s", e.getMessage());
            qr = "";
        }
        var form = context.form()
                .setAttribute("tapprovePairingCode", display)
                .setAttribute("tapproveEnrollmentUri", uri)
                .setAttribute("tapproveQr", qr)
                .setAttribute("tapproveUser", user.getUsername())
                .setAttribute("tapproveStatusUrl", statusUrl)
                .setAttribute("tapproveMinutes", PairingCodeStore.LIFETIME_SECONDS / 60);
        if (error != null) {
            form.setError(error);
        }
        return form.createForm(TEMPLATE);
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private static long parseLong(String s) {
        try {
            return s == null ? 0 : Long.parseLong(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    @Override
    public void close() {}
}
