package dev.tapprove.keycloak;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Checks one call of Tapprove's trust webhook (docs/PROTOCOL.md §8): HTTP Basic credentials and
 * the Standard Webhooks signature {@code v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>},
 * with the timestamp at most {@link #MAX_SKEW_SECONDS} away. Every secret comparison is constant
 * time.
 */
public final class WebhookVerifier {
    /** Largest accepted distance between {@code webhook-timestamp} and our clock. */
    public static final long MAX_SKEW_SECONDS = 300;

    /** Why a call was refused (logged without secrets; answered 401). */
    public enum Failure {
        BAD_BASIC_AUTH("missing or wrong HTTP Basic credentials"),
        MISSING_HEADERS("missing or malformed webhook-id / webhook-timestamp / webhook-signature"),
        STALE_TIMESTAMP("webhook-timestamp more than 300 s away from this server's clock"),
        BAD_SIGNATURE("webhook-signature does not verify with the configured webhook secret");

        private final String description;

        Failure(String description) {
            this.description = description;
        }

        public String description() {
            return description;
        }
    }

    /** A refused webhook call. */
    public static final class RejectedException extends Exception {
        private final Failure failure;

        RejectedException(Failure failure) {
            super(failure.description());
            this.failure = failure;
        }

        public Failure failure() {
            return failure;
        }
    }

    private final Secret username;
    private final Secret password;
    private final Secret hmacKey;

    public WebhookVerifier(Secret username, Secret password, Secret signingSecret) {
        this.username = username;
        this.password = password;
        this.hmacKey = hmacKey(signingSecret);
    }

    /**
     * The HMAC key of a Standard Webhooks secret: the base64 after {@code whsec_}; any other form
     * is used as raw bytes (as the service does).
     */
    static Secret hmacKey(Secret signingSecret) {
        String s = signingSecret.expose();
        if (s.startsWith("whsec_")) {
            try {
                return Secret.ofBytes(Base64.getDecoder().decode(s.substring("whsec_".length())));
            } catch (IllegalArgumentException notBase64) {
                // fall through: raw bytes
            }
        }
        return signingSecret;
    }

    /** The key codes are digested with, so stored digests are useless without this secret. */
    Secret digestKey() {
        return hmacKey;
    }

    /**
     * Verifies one request; returns normally when Basic auth, timestamp and one of the signatures
     * are right.
     */
    public void verify(
            String authorization,
            String webhookId,
            String webhookTimestamp,
            String webhookSignature,
            byte[] body,
            long nowSeconds)
            throws RejectedException {
        verifyBasic(authorization);
        if (webhookId == null || webhookTimestamp == null || webhookSignature == null) {
            throw new RejectedException(Failure.MISSING_HEADERS);
        }
        long ts;
        try {
            ts = Long.parseLong(webhookTimestamp.trim());
        } catch (NumberFormatException e) {
            throw new RejectedException(Failure.MISSING_HEADERS);
        }
        if (Math.abs(nowSeconds - ts) > MAX_SKEW_SECONDS) {
            throw new RejectedException(Failure.STALE_TIMESTAMP);
        }
        byte[] prefix = (webhookId + "." + webhookTimestamp + ".").getBytes(StandardCharsets.UTF_8);
        byte[] signed = new byte[prefix.length + body.length];
        System.arraycopy(prefix, 0, signed, 0, prefix.length);
        System.arraycopy(body, 0, signed, prefix.length, body.length);
        byte[] expected = hmacSha256(hmacKey, signed);
        boolean ok = false;
        // Standard Webhooks: space-separated list of "v1,<base64>"; any match is enough. Every
        // candidate is compared, so timing does not tell which (if any) matched.
        for (String candidate : webhookSignature.trim().split(" ")) {
            if (!candidate.startsWith("v1,")) {
                continue;
            }
            byte[] tag;
            try {
                tag = Base64.getDecoder().decode(candidate.substring(3));
            } catch (IllegalArgumentException e) {
                continue;
            }
            ok |= Secret.constantTimeEquals(expected, tag);
        }
        if (!ok) {
            throw new RejectedException(Failure.BAD_SIGNATURE);
        }
    }

    private void verifyBasic(String authorization) throws RejectedException {
        if (authorization == null || !authorization.startsWith("Basic ")) {
            throw new RejectedException(Failure.BAD_BASIC_AUTH);
        }
        byte[] decoded;
        try {
            decoded = Base64.getDecoder().decode(authorization.substring(6).trim());
        } catch (IllegalArgumentException e) {
            throw new RejectedException(Failure.BAD_BASIC_AUTH);
        }
        int colon = -1;
        for (int i = 0; i < decoded.length; i++) {
            if (decoded[i] == ':') {
                colon = i;
                break;
            }
        }
        if (colon < 0) {
            throw new RejectedException(Failure.BAD_BASIC_AUTH);
        }
        byte[] user = java.util.Arrays.copyOfRange(decoded, 0, colon);
        byte[] pass = java.util.Arrays.copyOfRange(decoded, colon + 1, decoded.length);
        // Both comparisons always run, so timing does not tell which one failed.
        boolean userOk = username.matches(user);
        boolean passOk = password.matches(pass);
        java.util.Arrays.fill(decoded, (byte) 0);
        java.util.Arrays.fill(pass, (byte) 0);
        if (!(userOk & passOk)) {
            throw new RejectedException(Failure.BAD_BASIC_AUTH);
        }
    }

    /** HMAC-SHA256 of {@code data} under {@code key}. */
    static byte[] hmacSha256(Secret key, byte[] data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            byte[] k = key.exposeBytes();
            mac.init(new SecretKeySpec(k, "HmacSHA256"));
            java.util.Arrays.fill(k, (byte) 0);
            return mac.doFinal(data);
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HmacSHA256 is not available in this JVM", e);
        }
    }
}
