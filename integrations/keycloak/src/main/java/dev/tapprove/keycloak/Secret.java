package dev.tapprove.keycloak;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * A secret value (API key, webhook password or signing secret, pairing code). {@link #toString()}
 * never shows it, and comparisons are constant time.
 */
public final class Secret {
    private final byte[] value;

    private Secret(byte[] value) {
        this.value = value;
    }

    /** Wraps a secret string (UTF-8). */
    public static Secret of(String value) {
        return new Secret(value.getBytes(StandardCharsets.UTF_8));
    }

    /** Wraps secret bytes (copied). */
    public static Secret ofBytes(byte[] value) {
        return new Secret(value.clone());
    }

    /** The secret as text, for the one place that has to send it (an HTTP header). */
    public String expose() {
        return new String(value, StandardCharsets.UTF_8);
    }

    /** The secret bytes (a copy), e.g. as an HMAC key. */
    public byte[] exposeBytes() {
        return value.clone();
    }

    /**
     * Constant-time comparison with a candidate. Both sides are hashed first, so neither the
     * position of the first difference nor a length difference shows in the timing.
     */
    public boolean matches(byte[] candidate) {
        return constantTimeEquals(value, candidate);
    }

    /** Constant-time equality of two byte strings of any lengths (SHA-256 of both, then compared). */
    public static boolean constantTimeEquals(byte[] a, byte[] b) {
        return MessageDigest.isEqual(sha256(a), sha256(b));
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available in this JVM", e);
        }
    }

    @Override
    public String toString() {
        return "Secret[redacted]";
    }
}
