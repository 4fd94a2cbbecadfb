package dev.tapprove.keycloak;

import com.google.zxing.WriterException;
import jakarta.ws.rs.core.Response;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.jboss.logging.Logger;
import org.keycloak.authentication.InitiatedActionSupport;
import org.keycloak.authentication.RequiredActionContext;
import org.keycloak.authentication.RequiredActionProvider;
import org.keycloak.models.UserModel;

/**
 * "Pair a phone with Tapprove": shows the logged-in user a pairing code, the enrollment link and
 * its QR code. The phone sends user and code to the service, the service asks this realm's trust
 * webhook ({@link TapproveResource#trust}), and the page moves on once the pairing is recorded.
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
        context.challenge(enrollmentPage(context, null, false));
    }

    @Override
    public void processAction(RequiredActionContext context) {
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
