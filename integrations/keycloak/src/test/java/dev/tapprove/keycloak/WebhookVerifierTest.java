package dev.tapprove.keycloak;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.api.Test;

class WebhookVerifierTest {
    private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private static final byte[] BODY = "{\"user\":\"alice\",\"challenge\":\"7KQ2-M9XD\"}".getBytes(StandardCharsets.UTF_8);
    private static final long NOW = 1_800_000_000L;

    private final WebhookVerifier verifier =
            new WebhookVerifier(Secret.of("prj_1"), Secret.of("pw"), Secret.of(SECRET));

    private static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    private static String sign(String secret, String id, long ts, byte[] body) {
        byte[] prefix = (id + "." + ts + ".").getBytes(StandardCharsets.UTF_8);
        byte[] msg = new byte[prefix.length + body.length];
        System.arraycopy(prefix, 0, msg, 0, prefix.length);
        System.arraycopy(body, 0, msg, prefix.length, body.length);
        byte[] tag = WebhookVerifier.hmacSha256(WebhookVerifier.hmacKey(Secret.of(secret)), msg);
        return "v1," + Base64.getEncoder().encodeToString(tag);
    }

    private WebhookVerifier.Failure failure(String auth, String id, String ts, String sig, byte[] body) {
        return assertThrows(WebhookVerifier.RejectedException.class, () -> verifier.verify(auth, id, ts, sig, body, NOW))
                .failure();
    }

    @Test
    void standardWebhooksReferenceVector() {
        // The example of the Standard Webhooks specification (secret, id, timestamp, payload → signature).
        WebhookVerifier spec = new WebhookVerifier(Secret.of("u"), Secret.of("p"), Secret.of(SECRET));
        byte[] payload = "{\"test\": 2432232314}".getBytes(StandardCharsets.UTF_8);
        assertDoesNotThrow(() -> spec.verify(
                basic("u", "p"),
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                payload,
                1614265330L));
    }

    @Test
    void acceptsTheServicesSignatureAmongSeveral() {
        String sig = "v1,AAAA v1," + sign(SECRET, "msg_1", NOW, BODY).substring(3);
        assertDoesNotThrow(() -> verifier.verify(basic("prj_1", "pw"), "msg_1", Long.toString(NOW), sig, BODY, NOW + 299));
    }

    @Test
    void refusesWrongBasicAuth() {
        String sig = sign(SECRET, "msg_1", NOW, BODY);
        assertEquals(WebhookVerifier.Failure.BAD_BASIC_AUTH, failure(null, "msg_1", Long.toString(NOW), sig, BODY));
        assertEquals(WebhookVerifier.Failure.BAD_BASIC_AUTH, failure(basic("prj_1", "wrong"), "msg_1", Long.toString(NOW), sig, BODY));
        assertEquals(WebhookVerifier.Failure.BAD_BASIC_AUTH, failure(basic("prj_2", "pw"), "msg_1", Long.toString(NOW), sig, BODY));
        assertEquals(WebhookVerifier.Failure.BAD_BASIC_AUTH, failure("Basic !!!", "msg_1", Long.toString(NOW), sig, BODY));
        assertEquals(WebhookVerifier.Failure.BAD_BASIC_AUTH, failure("Bearer x", "msg_1", Long.toString(NOW), sig, BODY));
    }

    @Test
    void refusesTamperingAndOtherSecrets() {
        String auth = basic("prj_1", "pw");
        String ts = Long.toString(NOW);
        String sig = sign(SECRET, "msg_1", NOW, BODY);
        byte[] tampered = "{\"user\":\"mallory\",\"challenge\":\"7KQ2-M9XD\"}".getBytes(StandardCharsets.UTF_8);
        assertEquals(WebhookVerifier.Failure.BAD_SIGNATURE, failure(auth, "msg_1", ts, sig, tampered));
        assertEquals(WebhookVerifier.Failure.BAD_SIGNATURE, failure(auth, "msg_2", ts, sig, BODY));
        assertEquals(WebhookVerifier.Failure.BAD_SIGNATURE,
                failure(auth, "msg_1", ts, sign("whsec_b3RoZXIgc2VjcmV0", "msg_1", NOW, BODY), BODY));
        assertEquals(WebhookVerifier.Failure.BAD_SIGNATURE, failure(auth, "msg_1", ts, "v2," + sig.substring(3), BODY));
    }

    @Test
    void refusesStaleOrMissingTimestamps() {
        String auth = basic("prj_1", "pw");
        long old = NOW - 301;
        assertEquals(WebhookVerifier.Failure.STALE_TIMESTAMP,
                failure(auth, "msg_1", Long.toString(old), sign(SECRET, "msg_1", old, BODY), BODY));
        long future = NOW + 301;
        assertEquals(WebhookVerifier.Failure.STALE_TIMESTAMP,
                failure(auth, "msg_1", Long.toString(future), sign(SECRET, "msg_1", future, BODY), BODY));
        assertEquals(WebhookVerifier.Failure.MISSING_HEADERS, failure(auth, null, Long.toString(NOW), "v1,x", BODY));
        assertEquals(WebhookVerifier.Failure.MISSING_HEADERS, failure(auth, "msg_1", "soon", "v1,x", BODY));
        assertEquals(WebhookVerifier.Failure.MISSING_HEADERS, failure(auth, "msg_1", Long.toString(NOW), null, BODY));
    }

    @Test
    void secretsDoNotPrint() {
        assertEquals("Secret[redacted]", Secret.of("tap_api_very_secret").toString());
    }
}
