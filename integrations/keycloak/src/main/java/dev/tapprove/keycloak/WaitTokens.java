package dev.tapprove.keycloak;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.SingleUseObjectProvider;

/**
 * Bearer tokens for the small status endpoints the waiting pages poll. A token (256 random bits)
 * is given only to the browser that shows the page; the single-use store (shared by all nodes)
 * keeps what it refers to, under the token's SHA-256, until it expires. A token only ever tells
 * "decided yet?": the decision itself is read again when the page submits.
 */
final class WaitTokens {
    private static final SecureRandom RANDOM = new SecureRandom();

    private WaitTokens() {}

    static String create(KeycloakSession session, Map<String, String> notes, long lifespanSeconds) {
        String token = randomToken();
        session.getProvider(SingleUseObjectProvider.class).put(key(token), lifespanSeconds, notes);
        return token;
    }

    /** 256 random bits, base64url (43 characters). */
    static String randomToken() {
        byte[] raw = new byte[32];
        RANDOM.nextBytes(raw);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(raw);
    }

    static Optional<Map<String, String>> lookup(KeycloakSession session, String token) {
        if (token == null || token.length() != 43) {
            return Optional.empty();
        }
        return Optional.ofNullable(session.getProvider(SingleUseObjectProvider.class).get(key(token)));
    }

    private static String key(String token) {
        return "tapprove-wait:" + HexFormat.of().formatHex(Secret.sha256(token.getBytes(StandardCharsets.US_ASCII)));
    }
}
