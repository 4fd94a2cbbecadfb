package dev.tapprove.keycloak;

/** A failed call of the Tapprove relying-party API, classified for what the login page says. */
public final class RpException extends Exception {
    /** What went wrong, in the terms the authenticator decides on. */
    public enum Kind {
        /** 422 no_device: the user has no paired phone. */
        NO_DEVICE,
        /** 429 rate_limited: too many login requests for this user; see {@link #retryAfterSeconds()}. */
        RATE_LIMITED,
        /**
         * 423 locked: the user reported a login as not theirs, so the service refuses pushes to
         * them until {@link #retryAfterSeconds()} has passed or the site lifts the lock.
         */
        LOCKED,
        /** 401: the API key is wrong (an operator problem, never shown as such to users). */
        UNAUTHORIZED,
        /** 404: the session or device is unknown to the service (or another project's). */
        NOT_FOUND,
        /** Connection refused, timeout, 5xx: the service is not reachable or failing. */
        UNAVAILABLE,
        /** 400 or an answer we cannot read: a bug or version mismatch. */
        UNEXPECTED
    }

    private final Kind kind;
    private final int httpStatus;
    private final long retryAfterSeconds;

    public RpException(Kind kind, int httpStatus, String message) {
        this(kind, httpStatus, message, 0, null);
    }

    public RpException(Kind kind, int httpStatus, String message, long retryAfterSeconds, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.httpStatus = httpStatus;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public Kind kind() {
        return kind;
    }

    /** The HTTP status, 0 when no answer arrived. */
    public int httpStatus() {
        return httpStatus;
    }

    /** For {@link Kind#RATE_LIMITED} and {@link Kind#LOCKED}: the service's Retry-After, seconds (0 if none). */
    public long retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
