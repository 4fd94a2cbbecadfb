package dev.tapprove.keycloak;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;

/**
 * The HTML of the "Your Tapprove phones" page ({@code GET /realms/{realm}/tapprove/devices}): a
 * table of the user's devices with a Remove button each. Every value from the service is escaped.
 */
final class DevicesPage {
    private static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").withZone(ZoneOffset.UTC);

    private DevicesPage() {}

    /** What the page says above the table, after a removal or when the service failed. */
    enum Notice {
        NONE(""),
        REMOVED("The phone was removed: it can no longer approve sign-ins."),
        UNKNOWN_DEVICE("That phone is not one of yours, or was removed already."),
        EXPIRED_FORM("The page had expired; nothing was removed. Try again."),
        SERVICE_UNAVAILABLE("Tapprove cannot be reached right now; try again in a minute.");

        final String text;

        Notice(String text) {
            this.text = text;
        }
    }

    static String render(String realmName, String userName, List<RpClient.Device> devices, String csrf,
            String accountUrl, Notice notice, boolean error) {
        StringBuilder h = new StringBuilder(2048);
        h.append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">")
                .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
                .append("<title>Your Tapprove phones</title><style>")
                .append("body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:56rem;padding:0 1rem;color:#151515}")
                .append("table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.5rem;border-bottom:1px solid #d2d2d2}")
                .append("button{background:#c9190b;color:#fff;border:0;border-radius:3px;padding:.35rem .8rem;cursor:pointer}")
                .append(".notice{padding:.6rem;border-left:4px solid #3e8635;background:#f3faf2}.error{border-color:#c9190b;background:#faeae8}")
                .append("</style></head><body>");
        h.append("<h1>Your Tapprove phones</h1><p>Signed in as <strong id=\"tapprove-user\">")
                .append(esc(userName)).append("</strong> in ").append(esc(realmName))
                .append(". These phones can approve your sign-ins. Remove one you lost or no longer use.</p>");
        if (notice != Notice.NONE) {
            h.append("<p id=\"tapprove-notice\" class=\"notice").append(error ? " error" : "").append("\">")
                    .append(esc(notice.text)).append("</p>");
        }
        if (devices == null) {
            // The list could not be read: the notice says why.
        } else if (devices.isEmpty()) {
            h.append("<p id=\"tapprove-no-devices\">You have no paired phone. Set one up under Signing in, in your account.</p>");
        } else {
            h.append("<table id=\"tapprove-devices\"><thead><tr><th>Name</th><th>Platform</th><th>Paired</th>")
                    .append("<th>Last used</th><th>Key protection</th><th></th></tr></thead><tbody>");
            for (RpClient.Device d : devices) {
                h.append("<tr data-device-id=\"").append(esc(d.id())).append("\"><td>")
                        .append(esc(d.name().isEmpty() ? "(unnamed)" : d.name())).append("</td><td>")
                        .append(esc(platform(d.platform()))).append("</td><td>")
                        .append(esc(time(d.createdAt()))).append("</td><td>")
                        .append(esc(d.lastUsedAt() == null ? "never" : time(d.lastUsedAt()))).append("</td><td>")
                        .append(esc(d.keyProtection())).append("</td><td>")
                        .append("<form method=\"post\"><input type=\"hidden\" name=\"csrf\" value=\"").append(esc(csrf))
                        .append("\"><input type=\"hidden\" name=\"device\" value=\"").append(esc(d.id()))
                        .append("\"><button type=\"submit\">Remove</button></form></td></tr>");
            }
            h.append("</tbody></table>");
        }
        h.append("<p><a href=\"").append(esc(accountUrl)).append("\">Back to your account</a></p></body></html>");
        return h.toString();
    }

    static String platform(String p) {
        return switch (p) {
            case "apns" -> "iOS";
            case "fcm" -> "Android";
            case "none" -> "no push";
            default -> p;
        };
    }

    private static String time(long unixSeconds) {
        return TIME.format(Instant.ofEpochSecond(unixSeconds));
    }

    static String esc(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#39;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }
}
