package dev.tapprove.keycloak;

import java.security.SecureRandom;
import java.util.Optional;

/**
 * Pairing codes: 8 Crockford base32 characters (40 bits from {@link SecureRandom}), shown as
 * {@code XXXX-XXXX} — the same form as the demo site's, so the apps treat them alike.
 */
public final class PairingCode {
    private static final String ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    /** Length of a code without the dash. */
    public static final int LENGTH = 8;
    private static final SecureRandom RANDOM = new SecureRandom();

    private PairingCode() {}

    /** A fresh random code in canonical form (8 characters, no dash). */
    public static String generate() {
        byte[] bytes = new byte[5];
        RANDOM.nextBytes(bytes);
        long bits = 0;
        for (byte b : bytes) {
            bits = (bits << 8) | (b & 0xff);
        }
        StringBuilder out = new StringBuilder(LENGTH);
        for (int i = LENGTH - 1; i >= 0; i--) {
            out.append(ALPHABET.charAt((int) ((bits >> (i * 5)) & 31)));
        }
        return out.toString();
    }

    /**
     * Canonical form of what a user typed: upper case, dashes and spaces dropped, Crockford's
     * look-alikes mapped ({@code O}→{@code 0}, {@code I}/{@code L}→{@code 1}). Empty unless it is
     * exactly 8 valid characters.
     */
    public static Optional<String> normalize(String input) {
        if (input == null) {
            return Optional.empty();
        }
        StringBuilder out = new StringBuilder(LENGTH);
        for (int i = 0; i < input.length(); i++) {
            char c = Character.toUpperCase(input.charAt(i));
            if (c == '-' || c == ' ') {
                continue;
            }
            if (c == 'O') {
                c = '0';
            } else if (c == 'I' || c == 'L') {
                c = '1';
            }
            if (ALPHABET.indexOf(c) < 0 || out.length() == LENGTH) {
                return Optional.empty();
            }
            out.append(c);
        }
        return out.length() == LENGTH ? Optional.of(out.toString()) : Optional.empty();
    }

    /** Display form {@code XXXX-XXXX} of a canonical code. */
    public static String display(String code) {
        return code.length() == LENGTH ? code.substring(0, 4) + "-" + code.substring(4) : code;
    }
}
