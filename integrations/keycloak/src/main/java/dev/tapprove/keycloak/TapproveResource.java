package dev.tapprove.keycloak;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.FormParam;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jboss.logging.Logger;
import org.keycloak.models.AuthenticatorConfigModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.services.managers.AppAuthManager;
import org.keycloak.services.managers.AuthenticationManager;

/**
 * The extension's endpoints under {@code /realms/{realm}/tapprove/}:
 *
 * <ul>
 *   <li>{@code POST trust} — Tapprove's trust webhook (docs/PROTOCOL.md §8);
 *   <li>{@code GET wait?token=} — the login page's wake-up call: holds the request with the
 *       service's long-poll and answers {@code {"done": true|false}};
 *   <li>{@code GET enrollment?token=} — the pairing page's: {@code {"paired": true|false}};
 *   <li>{@code GET devices}, {@code POST devices} — the signed-in user's phones as the service
 *       lists them, with Remove (revokes at the service); authenticated by the realm's SSO
 *       cookie, the form by a per-session CSRF token.
 * </ul>
 */
public final class TapproveResource {
    private static final Logger LOG = Logger.getLogger(TapproveResource.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    static final String TOKEN_KIND = "kind";
    static final String TOKEN_REALM = "realm";
    static final String TOKEN_CONFIG = "config";
    static final String TOKEN_SESSION = "session";
    static final String TOKEN_USER = "user";
    static final String TOKEN_SINCE = "since";
    static final String KIND_LOGIN = "login";
    static final String KIND_ENROLL = "enroll";
    /** The user-session note holding the devices page's CSRF token. */
    static final String CSRF_NOTE = "tapprove.devices.csrf";

    /** How long one wake-up call waits at most (the page calls again after it). */
    static final int WAIT_SECONDS = 25;

    private final KeycloakSession session;

    TapproveResource(KeycloakSession session) {
        this.session = session;
    }

    /** The trust webhook: 200 = this realm issued that code to that user (first use, in time). */
    @POST
    @Path("trust")
    @Produces(MediaType.APPLICATION_JSON)
    public Response trust(byte[] body) {
        RealmModel realm = session.getContext().getRealm();
        TapproveConfig config;
        try {
            config = TapproveConfig.forRealm(session, realm);
        } catch (TapproveConfig.ConfigException e) {
            LOG.errorf("Tapprove trust webhook in realm %s: %s", realm.getName(), e.getMessage());
            return json(503, Map.of("error", "not_configured"));
        }
        HttpHeaders h = session.getContext().getRequestHeaders();
        try {
            config.webhookVerifier().verify(
                    h.getHeaderString(HttpHeaders.AUTHORIZATION),
                    h.getHeaderString("webhook-id"),
                    h.getHeaderString("webhook-timestamp"),
                    h.getHeaderString("webhook-signature"),
                    body == null ? new byte[0] : body,
                    System.currentTimeMillis() / 1000);
        } catch (WebhookVerifier.RejectedException e) {
            LOG.warnf("Tapprove trust webhook in realm %s refused: %s", realm.getName(), e.getMessage());
            return json(401, Map.of("error", "unauthorized"));
        }
        String userName;
        String challenge;
        try {
            JsonNode req = JSON.readTree(body);
            userName = req.path("user").asText("");
            challenge = req.path("challenge").asText("");
        } catch (IOException e) {
            return json(400, Map.of("error", "invalid_request"));
        }
        if (userName.isEmpty() || challenge.isEmpty()) {
            return json(400, Map.of("error", "invalid_request"));
        }
        UserModel user = session.users().getUserByUsername(realm, userName);
        if (user == null || !user.isEnabled()) {
            LOG.infof("Tapprove trust webhook in realm %s: no enabled user by that name", realm.getName());
            return json(403, Map.of("error", "no_code"));
        }
        PairingCodeStore.Outcome outcome = config.codeStore().verify(
                user.getId(), challenge, new UserAttributeSlot(session, user), System.currentTimeMillis() / 1000);
        LOG.infof("Tapprove trust webhook in realm %s, user id %s: %s", realm.getName(), user.getId(), outcome);
        if (outcome == PairingCodeStore.Outcome.ACCEPTED) {
            TapproveCredential.recordPairing(user, System.currentTimeMillis());
            return json(200, Map.of("trusted", true));
        }
        return json(403, Map.of("error", outcome.name().toLowerCase(java.util.Locale.ROOT)));
    }

    /** The login page's wake-up call. Never says how a session ended, only that it did. */
    @GET
    @Path("wait")
    @Produces(MediaType.APPLICATION_JSON)
    public Response waitForDecision(@QueryParam("token") String token) {
        RealmModel realm = session.getContext().getRealm();
        Optional<Map<String, String>> notes = tokenNotes(token, KIND_LOGIN, realm);
        if (notes.isEmpty()) {
            return json(404, Map.of("error", "unknown_token"));
        }
        AuthenticatorConfigModel model = realm.getAuthenticatorConfigById(notes.get().get(TOKEN_CONFIG));
        try {
            PushSession push = TapproveConfig.from(session, model).client().get(notes.get().get(TOKEN_SESSION), WAIT_SECONDS);
            return json(200, Map.of("done", push.isFinal()));
        } catch (TapproveConfig.ConfigException e) {
            LOG.errorf("Tapprove wait in realm %s: %s", realm.getName(), e.getMessage());
            return json(503, Map.of("error", "not_configured"));
        } catch (RpException e) {
            if (e.kind() == RpException.Kind.NOT_FOUND) {
                return json(200, Map.of("done", true));
            }
            LOG.warnf("Tapprove wait in realm %s: %s", realm.getName(), e.getMessage());
            return json(502, Map.of("error", "service_unavailable"));
        }
    }

    /** The pairing page's check: has the webhook accepted this user's code since the page was shown? */
    @GET
    @Path("enrollment")
    @Produces(MediaType.APPLICATION_JSON)
    public Response enrollment(@QueryParam("token") String token) {
        RealmModel realm = session.getContext().getRealm();
        Optional<Map<String, String>> notes = tokenNotes(token, KIND_ENROLL, realm);
        if (notes.isEmpty()) {
            return json(404, Map.of("error", "unknown_token"));
        }
        UserModel user = session.users().getUserById(realm, notes.get().get(TOKEN_USER));
        long since;
        try {
            since = Long.parseLong(notes.get().getOrDefault(TOKEN_SINCE, ""));
        } catch (NumberFormatException e) {
            return json(404, Map.of("error", "unknown_token"));
        }
        return json(200, Map.of("paired", user != null && TapproveCredential.pairedSince(user, since)));
    }

    /** The signed-in user's phones. Not signed in: a link to the account console, which signs in. */
    @GET
    @Path("devices")
    @Produces(MediaType.TEXT_HTML)
    public Response devices(@QueryParam("removed") String removed) {
        return devicesPage(removed == null ? DevicesPage.Notice.NONE : DevicesPage.Notice.REMOVED, false);
    }

    /** Remove: revokes the device at the service if it is one of the signed-in user's. */
    @POST
    @Path("devices")
    @Consumes(MediaType.APPLICATION_FORM_URLENCODED)
    @Produces(MediaType.TEXT_HTML)
    public Response removeDevice(@FormParam("csrf") String csrf, @FormParam("device") String deviceId) {
        RealmModel realm = session.getContext().getRealm();
        AuthenticationManager.AuthResult auth = new AppAuthManager().authenticateIdentityCookie(session, realm);
        if (auth == null) {
            return notSignedIn(realm);
        }
        String expected = auth.session().getNote(CSRF_NOTE);
        if (expected == null || csrf == null
                || !MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8), csrf.getBytes(StandardCharsets.UTF_8))) {
            return devicesPage(DevicesPage.Notice.EXPIRED_FORM, true);
        }
        UserModel user = auth.user();
        try {
            RpClient client = TapproveConfig.forRealm(session, realm).client();
            // Only a device the service lists for this user: the API key could revoke any of the project's.
            boolean own = deviceId != null && client.devices(user.getUsername()).stream().anyMatch(d -> d.id().equals(deviceId));
            if (!own) {
                return devicesPage(DevicesPage.Notice.UNKNOWN_DEVICE, true);
            }
            client.revokeDevice(deviceId);
            LOG.infof("Tapprove: user id %s in realm %s removed device %s", user.getId(), realm.getName(), deviceId);
            if (client.devices(user.getUsername()).isEmpty()) {
                // No phone left: Keycloak's record that the user is set up goes too.
                TapproveCredential.forget(user);
            }
        } catch (TapproveConfig.ConfigException e) {
            LOG.errorf("Tapprove devices page in realm %s: %s", realm.getName(), e.getMessage());
            return devicesPage(DevicesPage.Notice.SERVICE_UNAVAILABLE, true);
        } catch (RpException e) {
            LOG.warnf("Tapprove devices page in realm %s: %s", realm.getName(), e.getMessage());
            return devicesPage(e.kind() == RpException.Kind.NOT_FOUND ? DevicesPage.Notice.UNKNOWN_DEVICE
                    : DevicesPage.Notice.SERVICE_UNAVAILABLE, true);
        }
        // Post/redirect/get: a reload does not post again.
        URI back = session.getContext().getUri().getBaseUriBuilder()
                .path("realms").path(realm.getName()).path(TapproveResourceProviderFactory.PROVIDER_ID).path("devices")
                .queryParam("removed", "1").build();
        return Response.seeOther(back).header("Cache-Control", "no-store").build();
    }

    private Response devicesPage(DevicesPage.Notice notice, boolean error) {
        RealmModel realm = session.getContext().getRealm();
        AuthenticationManager.AuthResult auth = new AppAuthManager().authenticateIdentityCookie(session, realm);
        if (auth == null) {
            return notSignedIn(realm);
        }
        UserModel user = auth.user();
        String csrf = auth.session().getNote(CSRF_NOTE);
        if (csrf == null) {
            csrf = WaitTokens.randomToken();
            auth.session().setNote(CSRF_NOTE, csrf);
        }
        List<RpClient.Device> devices = null;
        int status = error ? 400 : 200;
        try {
            devices = TapproveConfig.forRealm(session, realm).client().devices(user.getUsername());
        } catch (TapproveConfig.ConfigException e) {
            LOG.errorf("Tapprove devices page in realm %s: %s", realm.getName(), e.getMessage());
            notice = DevicesPage.Notice.SERVICE_UNAVAILABLE;
            error = true;
            status = 503;
        } catch (RpException e) {
            LOG.warnf("Tapprove devices page in realm %s: %s", realm.getName(), e.getMessage());
            notice = DevicesPage.Notice.SERVICE_UNAVAILABLE;
            error = true;
            status = 502;
        }
        return html(status, DevicesPage.render(realm.getDisplayName() == null ? realm.getName() : realm.getDisplayName(),
                user.getUsername(), devices, csrf, accountUrl(realm), notice, error));
    }

    private Response notSignedIn(RealmModel realm) {
        String url = DevicesPage.esc(accountUrl(realm));
        return html(401, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your Tapprove phones</title></head>"
                + "<body><p id=\"tapprove-sign-in\">Sign in to <a href=\"" + url + "\">your account</a> first, then open this page again.</p></body></html>");
    }

    private String accountUrl(RealmModel realm) {
        return session.getContext().getUri().getBaseUriBuilder().path("realms").path(realm.getName()).path("account").build().toString();
    }

    private static Response html(int status, String body) {
        return Response.status(status)
                .type(MediaType.TEXT_HTML_TYPE.withCharset("utf-8"))
                .header("Cache-Control", "no-store")
                .header("X-Frame-Options", "DENY")
                .header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
                .header("Referrer-Policy", "no-referrer")
                .entity(body)
                .build();
    }

    private Optional<Map<String, String>> tokenNotes(String token, String kind, RealmModel realm) {
        return WaitTokens.lookup(session, token)
                .filter(n -> kind.equals(n.get(TOKEN_KIND)) && realm.getId().equals(n.get(TOKEN_REALM)));
    }

    private static Response json(int status, Map<String, Object> body) {
        return Response.status(status)
                .type(MediaType.APPLICATION_JSON_TYPE)
                .header("Cache-Control", "no-store")
                .entity(body)
                .build();
    }
}
