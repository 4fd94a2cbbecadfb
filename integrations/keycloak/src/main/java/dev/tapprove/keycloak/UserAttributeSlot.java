package dev.tapprove.keycloak;

import java.util.Optional;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.SingleUseObjectProvider;
import org.keycloak.models.UserModel;

/**
 * A user's pending pairing code in Keycloak: the digest, issue time and failure count are user
 * attributes (in the database, so every node sees them); "used once" is claimed in Keycloak's
 * cluster-wide single-use store, which is atomic across nodes.
 */
final class UserAttributeSlot implements PairingCodeStore.Slot {
    static final String DIGEST = "tapprove.pairing.digest";
    static final String ISSUED_AT = "tapprove.pairing.issued_at";
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
        String failures = user.getFirstAttribute(FAILURES);
        if (digest == null || issued == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(new PairingCodeStore.Pending(
                    digest, Long.parseLong(issued), failures == null ? 0 : Integer.parseInt(failures)));
        } catch (NumberFormatException corrupt) {
            // Unreadable record: treat as no code (fails closed).
            return Optional.empty();
        }
    }

    @Override
    public void write(PairingCodeStore.Pending pending) {
        user.setSingleAttribute(DIGEST, pending.digest());
        user.setSingleAttribute(ISSUED_AT, Long.toString(pending.issuedAt()));
        user.setSingleAttribute(FAILURES, Integer.toString(pending.failures()));
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
}
