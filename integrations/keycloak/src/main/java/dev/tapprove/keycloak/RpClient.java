package dev.tapprove.keycloak;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * The Tapprove relying-party API (docs/PROTOCOL.md §9): create a push session, read it (with the
 * service's long-poll), cancel it; list a user's devices and revoke them. Authenticated with {@code X-API-Key}; the key never appears in
 * messages or logs.
 */
public final class RpClient {
    /** Longest long-poll the service holds (it clamps {@code wait} to 30 s). */
    public static final int MAX_WAIT_SECONDS = 30;
    /** Longest context member the service accepts. */
    static final int MAX_CONTEXT_CHARS = 200;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP =
            HttpClient.newBuilder()
                    .connectTimeout(Duration.ofSeconds(5))
                    .followRedirects(HttpClient.Redirect.NEVER)
                    .build();

    private final URI base;
    private final Secret apiKey;

    /** {@code serviceUrl}: e.g. {@code https://tapprove.example}; {@code apiKey}: {@code tap_api_…}. */
    public RpClient(URI serviceUrl, Secret apiKey) {
        String s = serviceUrl.toString();
        this.base = URI.create(s.endsWith("/") ? s : s + "/");
        this.apiKey = apiKey;
    }

    /** What the login page passes along; every member optional. */
    public record LoginContext(String app, String ip, String userAgent) {}

    /**
     * {@code POST /v1/push/sessions}: sends the challenge to the user's phones.
     *
     * @param presence {@code choose}, {@code entry} or {@code none}
     */
    public PushSession create(
            String user, String title, String body, LoginContext context, String presence, int ttlSeconds)
            throws RpException {
        ObjectNode req = JSON.createObjectNode();
        req.put("user", user);
        req.putObject("notification").put("title", clip(title, 120)).put("body", clip(body, 500));
        ObjectNode ctx = req.putObject("context");
        putIfPresent(ctx, "app", context.app());
        putIfPresent(ctx, "ip", context.ip());
        putIfPresent(ctx, "user_agent", context.userAgent());
        req.put("presence", presence);
        req.put("ttl_seconds", ttlSeconds);
        HttpRequest request =
                authorized(base.resolve("v1/push/sessions"), Duration.ofSeconds(15))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(req.toString()))
                        .build();
        return parseSession(send(request, 201));
    }

    /** {@code GET /v1/push/sessions/{id}?wait=N}: answers at once when N is 0. */
    public PushSession get(String sessionId, int waitSeconds) throws RpException {
        int wait = Math.max(0, Math.min(waitSeconds, MAX_WAIT_SECONDS));
        URI uri = base.resolve("v1/push/sessions/" + encode(sessionId) + (wait > 0 ? "?wait=" + wait : ""));
        HttpRequest request = authorized(uri, Duration.ofSeconds(wait + 15L)).GET().build();
        return parseSession(send(request, 200));
    }

    /** {@code DELETE /v1/push/sessions/{id}}: the final view (unchanged if already final). */
    public PushSession cancel(String sessionId) throws RpException {
        URI uri = base.resolve("v1/push/sessions/" + encode(sessionId));
        HttpRequest request = authorized(uri, Duration.ofSeconds(15)).DELETE().build();
        return parseSession(send(request, 200));
    }

    /** One paired device as {@code GET /v1/users/{user}/devices} lists it; times in Unix seconds. */
    public record Device(
            String id, String name, String platform, long createdAt, Long lastUsedAt, String keyProtection) {}

    /** {@code GET /v1/users/{user}/devices}: the user's paired devices, oldest first. */
    public java.util.List<Device> devices(String user) throws RpException {
        URI uri = base.resolve("v1/users/" + encodePath(user) + "/devices");
        JsonNode json = send(authorized(uri, Duration.ofSeconds(15)).GET().build(), 200);
        JsonNode list = json.path("devices");
        if (!list.isArray()) {
            throw new RpException(RpException.Kind.UNEXPECTED, 200, "the service's device list has no devices array");
        }
        java.util.List<Device> devices = new java.util.ArrayList<>();
        for (JsonNode d : list) {
            String id = d.path("id").asText("");
            if (id.isEmpty()) {
                throw new RpException(RpException.Kind.UNEXPECTED, 200, "a device in the service's list has no id");
            }
            JsonNode lastUsed = d.get("last_used_at");
            devices.add(new Device(
                    id,
                    d.path("name").asText(""),
                    d.path("platform").asText("none"),
                    d.path("created_at").asLong(0),
                    lastUsed == null || lastUsed.isNull() ? null : lastUsed.asLong(),
                    d.path("key_protection").asText("unknown")));
        }
        return devices;
    }

    /** {@code DELETE /v1/devices/{id}}: revokes that device at once (idempotent). */
    public void revokeDevice(String deviceId) throws RpException {
        URI uri = base.resolve("v1/devices/" + encodePath(deviceId));
        send(authorized(uri, Duration.ofSeconds(15)).DELETE().build(), 204);
    }

    /** {@code DELETE /v1/users/{user}/devices}: revokes every device of the user (idempotent). */
    public void revokeAllDevices(String user) throws RpException {
        URI uri = base.resolve("v1/users/" + encodePath(user) + "/devices");
        send(authorized(uri, Duration.ofSeconds(15)).DELETE().build(), 204);
    }

    /**
     * {@code DELETE /v1/users/{user}/lock}: lifts the lock the service put on the user after
     * "not me" (and any cooldown). 204 whether or not one was in force.
     */
    public void liftLock(String user) throws RpException {
        URI uri = base.resolve("v1/users/" + encodePath(user) + "/lock");
        send(authorized(uri, Duration.ofSeconds(15)).DELETE().build(), 204);
    }

    private HttpRequest.Builder authorized(URI uri, Duration timeout) {
        return HttpRequest.newBuilder(uri)
                .timeout(timeout)
                .header("X-API-Key", apiKey.expose())
                .header("Accept", "application/json");
    }

    private JsonNode send(HttpRequest request, int expected) throws RpException {
        HttpResponse<String> response;
        try {
            response = HTTP.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new RpException(
                    RpException.Kind.UNAVAILABLE,
                    0,
                    "cannot reach the Tapprove service at " + base + ": " + e,
                    0,
                    e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RpException(RpException.Kind.UNAVAILABLE, 0, "interrupted while calling the Tapprove service", 0, e);
        }
        int status = response.statusCode();
        JsonNode json;
        try {
            json = JSON.readTree(response.body());
        } catch (IOException e) {
            json = null;
        }
        if (status == expected && expected == 204) {
            return JSON.createObjectNode();
        }
        if (status == expected && json != null && json.isObject()) {
            return json;
        }
        String code = json == null ? "" : json.path("error").path("code").asText("");
        String message = json == null ? "" : json.path("error").path("message").asText("");
        String detail = "the Tapprove service answered " + status + (code.isEmpty() ? "" : " " + code)
                + (message.isEmpty() ? "" : ": " + message);
        RpException.Kind kind;
        long retryAfter = 0;
        switch (status) {
            case 422 -> kind = "no_device".equals(code) ? RpException.Kind.NO_DEVICE : RpException.Kind.UNEXPECTED;
            case 429 -> {
                kind = RpException.Kind.RATE_LIMITED;
                retryAfter = response.headers().firstValue("Retry-After").map(RpClient::parseLong).orElse(0L);
            }
            case 423 -> {
                kind = "locked".equals(code) ? RpException.Kind.LOCKED : RpException.Kind.UNEXPECTED;
                retryAfter = response.headers().firstValue("Retry-After").map(RpClient::parseLong).orElse(0L);
            }
            case 401 -> kind = RpException.Kind.UNAUTHORIZED;
            case 404 -> kind = RpException.Kind.NOT_FOUND;
            default -> kind = status >= 500 ? RpException.Kind.UNAVAILABLE : RpException.Kind.UNEXPECTED;
        }
        throw new RpException(kind, status, detail, retryAfter, null);
    }

    static PushSession parseSession(JsonNode json) throws RpException {
        String id = json.path("id").asText("");
        if (id.isEmpty()) {
            throw new RpException(RpException.Kind.UNEXPECTED, 200, "the service's answer has no session id");
        }
        PushSession.Status status = PushSession.Status.parse(json.path("status").asText(""));
        return new PushSession(
                id,
                status,
                textOrNull(json.get("reason")),
                textOrNull(json.get("presence_code")),
                json.path("expires_at").asLong(0));
    }

    private static String textOrNull(JsonNode n) {
        return n == null || n.isNull() ? null : n.asText();
    }

    private static long parseLong(String s) {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static void putIfPresent(ObjectNode node, String name, String value) {
        if (value != null && !value.isBlank()) {
            node.put(name, clip(value, MAX_CONTEXT_CHARS));
        }
    }

    /** Cuts {@code s} to at most {@code max} characters (code points), as the service counts them. */
    static String clip(String s, int max) {
        if (s.codePointCount(0, s.length()) <= max) {
            return s;
        }
        return s.substring(0, s.offsetByCodePoints(0, max));
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    /** One path segment: form encoding with {@code %20} for spaces ({@code +} is literal in a path). */
    static String encodePath(String s) {
        return encode(s).replace("+", "%20");
    }
}
