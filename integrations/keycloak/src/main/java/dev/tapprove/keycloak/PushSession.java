package dev.tapprove.keycloak;

/**
 * A push session as the relying-party API shows it (docs/PROTOCOL.md §9). {@code presenceCode}
 * is null in {@code none} mode; {@code reason} is null while {@code sent}.
 */
public record PushSession(String id, Status status, String reason, String presenceCode, long expiresAt) {
    /** The session's status: exactly one of the six the API defines. */
    public enum Status {
        SENT,
        ACCEPTED,
        REJECTED,
        EXPIRED,
        CANCELED,
        ERROR;

        static Status parse(String wire) throws RpException {
            for (Status s : values()) {
                if (s.name().equalsIgnoreCase(wire)) {
                    return s;
                }
            }
            throw new RpException(
                    RpException.Kind.UNEXPECTED, 200, "the service answered an unknown status " + wire);
        }
    }

    /** True once the service has decided (every status but {@code sent}). */
    public boolean isFinal() {
        return status != Status.SENT;
    }
}
