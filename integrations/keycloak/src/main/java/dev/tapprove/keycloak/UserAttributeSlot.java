package dev.tapprove.keycloak;

import java.util.Optional;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.SingleUseObjectProvider;
import org.keycloak.models.UserModel;

/**
 * A user's pending pairing code in Keycloak: the digest and issue time are user attributes (in
 * the database, so every node sees them); "used once" and each wrong try are claimed in
 * Keycloak's cluster-wide single-use store, whose {@code putIfAbsent} is atomic across nodes (a
 * counter in a user attribute would be read, incremented and written back: parallel guesses
 * would all read the same count).
 */
final class UserAttributeSlot implements PairingCodeStore.Slot {
    static final String DIGEST = "tapprove.pairing.digest";
    static final String ISSUED_AT = "tapprove.pairing.issued_at";
    /** Written by earlier versions (a read-modify-write counter); removed with the record. */
    static final String FAILURES = "tapprove.pairing.failures";

    private final KeycloakSession session;
    private final UserModel user;

    UserAttributeSlot(KeycloakSession session, UserModel user) {
        this.session = session;
        this.user = user;
    }

    @Override
    public Optional<PairingCodeStore.Pending> read() {
        String digest = user.getFirstAttribute(DIGEST);
        String issued = user.getFirstAttribute(ISSUED_AT);
        if (digest == null || issued == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(new PairingCodeStore.Pending(digest, Long.parseLong(issued)));
        } catch (NumberFormatException corrupt) {
            // Unreadable record: treat as no code (fails closed).
            return Optional.empty();
        }
    }

    @Override
    public void write(PairingCodeStore.Pending pending) {
        user.setSingleAttribute(DIGEST, pending.digest());
        user.setSingleAttribute(ISSUED_AT, Long.toString(pending.issuedAt()));
    }

    @Override
    public void clear() {
        user.removeAttribute(DIGEST);
        user.removeAttribute(ISSUED_AT);
        user.removeAttribute(FAILURES);
    }

    @Override
    public boolean claimOnce(String digest, long lifespanSeconds) {
        return session.getProvider(SingleUseObjectProvider.class)
                .putIfAbsent("tapprove-pairing:" + digest, lifespanSeconds);
    }

    @Override
    public int claimTry(String digest, int max, long lifespanSeconds) {
        SingleUseObjectProvider store = session.getProvider(SingleUseObjectProvider.class);
        for (int attempt = 1; attempt <= max; attempt++) {
            if (store.putIfAbsent("tapprove-pairing-try:" + digest + ":" + attempt, lifespanSeconds)) {
                return attempt;
            }
        }
        return 0;
    }
}
