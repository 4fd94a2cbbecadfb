package dev.tapprove.keycloak;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;

/**
 * The rules of the pairing codes this extension issues: one live code per user, accepted
 * <b>once</b>, within {@link #LIFETIME_SECONDS}, void after {@link #MAX_FAILURES} wrong tries.
 * Only an HMAC of the code is stored (keyed with the webhook secret), so whoever reads the store
 * cannot derive a usable code. Where records live is the {@link Slot}'s business (Keycloak: user
 * attributes in the database, plus the cluster-wide single-use store for the atomic "once" and
 * the atomic try count). A try is claimed before the code is compared, in one atomic step, so
 * parallel guesses on any number of nodes get no more than {@link #MAX_FAILURES} between them.
 */
public final class PairingCodeStore {
    /** How long a code is valid. */
    public static final long LIFETIME_SECONDS = 600;
    /** Wrong tries after which a code is void. */
    public static final int MAX_FAILURES = 5;

    /** One user's pending code, as stored. */
    public record Pending(String digest, long issuedAt) {}

    /** Where one user's pending code is kept. */
    public interface Slot {
        Optional<Pending> read();

        void write(Pending pending);

        void clear();

        /**
         * Marks {@code digest} used, atomically for every node; false if it already was. Called
         * only for a correct code, right before it is accepted.
         */
        boolean claimOnce(String digest, long lifespanSeconds);

        /**
         * Claims the next of {@code max} tries at the code {@code digest}, atomically for every
         * node: its number (1 to {@code max}), or 0 when every try is taken.
         */
        int claimTry(String digest, int max, long lifespanSeconds);
    }

    /** What the webhook answers for one (user, code). */
    public enum Outcome {
        /** Right code, first use: trust the device. */
        ACCEPTED,
        /** No code was issued to this user (or it was used or voided). */
        NO_CODE,
        /** Wrong code; tries remain. */
        WRONG,
        /** Wrong code and no tries left, or tries exhausted before: the code is void. */
        EXHAUSTED,
        /** The code is older than 10 minutes. */
        EXPIRED,
        /** Right code, but another request used it first. */
        ALREADY_USED
    }

    private final Secret digestKey;

    /** {@code digestKey}: the HMAC key the stored digests use (the webhook signing key). */
    public PairingCodeStore(Secret digestKey) {
        this.digestKey = digestKey;
    }

    /** Issues a fresh code for {@code userId} (replacing any pending one) and returns it. */
    public String issue(String userId, Slot slot, long nowSeconds) {
        String code = PairingCode.generate();
        slot.write(new Pending(digest(userId, code), nowSeconds));
        return code;
    }

    /** Checks what a user typed into the app, as it arrives through the trust webhook. */
    public Outcome verify(String userId, String candidate, Slot slot, long nowSeconds) {
        Optional<Pending> found = slot.read();
        if (found.isEmpty()) {
            return Outcome.NO_CODE;
        }
        Pending p = found.get();
        if (nowSeconds > p.issuedAt() + LIFETIME_SECONDS) {
            slot.clear();
            return Outcome.EXPIRED;
        }
        int attempt = slot.claimTry(p.digest(), MAX_FAILURES, LIFETIME_SECONDS);
        if (attempt == 0) {
            slot.clear();
            return Outcome.EXHAUSTED;
        }
        Optional<String> canonical = PairingCode.normalize(candidate);
        // A malformed candidate is compared as garbage, so it costs a try like any wrong code.
        String got = digest(userId, canonical.orElse("\u0000invalid"));
        boolean right =
                canonical.isPresent()
                        && Secret.constantTimeEquals(
                                got.getBytes(StandardCharsets.US_ASCII),
                                p.digest().getBytes(StandardCharsets.US_ASCII));
        if (!right) {
            if (attempt >= MAX_FAILURES) {
                slot.clear();
                return Outcome.EXHAUSTED;
            }
            return Outcome.WRONG;
        }
        if (!slot.claimOnce(p.digest(), LIFETIME_SECONDS)) {
            return Outcome.ALREADY_USED;
        }
        slot.clear();
        return Outcome.ACCEPTED;
    }

    /** base64url(HMAC-SHA256(key, userId ":" code)). */
    String digest(String userId, String canonicalCode) {
        byte[] mac =
                WebhookVerifier.hmacSha256(
                        digestKey, (userId + ":" + canonicalCode).getBytes(StandardCharsets.UTF_8));
        return Base64.getUrlEncoder().withoutPadding().encodeToString(mac);
    }
}
