package dev.tapprove.common

import dev.tapprove.LoginContext
import dev.tapprove.LoginRequest
import dev.tapprove.PresenceMode

/**
 * A browser and the system it runs on, either may be unknown, as the service named them in the
 * signed context. The raw user agent is the sign-in page's visitor's own text (it may be written
 * to look like an instruction from us), so it is never parsed or shown here.
 */
data class BrowserOs(val browser: String?, val os: String?) {
    companion object {
        /** The signed names of [context]; null when the service named neither. */
        fun of(context: LoginContext): BrowserOs? =
            if (context.browser == null && context.os == null) null else BrowserOs(context.browser, context.os)
    }
}

/** The text of a login request for a notification or the approval screen. */
data class RequestPresentation(
    val title: String,
    val body: String,
    /** Context lines, most useful first ("Demo Bank", "Near Lyon, FR", "IP 203.0.113.7", …). */
    val details: List<String>,
    /** What the user must do. */
    val prompt: String,
    /** Choose mode: the options, in the order given. */
    val options: List<String>,
) {
    companion object {
        /** Builds the presentation of [request]. */
        fun of(request: LoginRequest): RequestPresentation {
            val c = request.context
            val details = listOfNotNull(
                c.app,
                c.location?.let { "Near $it" },
                c.ip?.let { "IP $it" },
                BrowserOs.of(c)?.let { b -> "Browser: " + listOfNotNull(b.browser ?: "unknown browser", b.os?.let { "on $it" }).joinToString(" ") },
                "Account: ${request.user}",
            )
            val prompt = when (request.presenceMode) {
                PresenceMode.CHOOSE -> "Tap the number shown on the login page"
                PresenceMode.ENTRY -> "Type the code shown on the login page"
                PresenceMode.NONE -> "Approve only if you are signing in right now"
            }
            return RequestPresentation(request.title, request.body, details, prompt, request.options)
        }

        /** "1:05" for 65 seconds; "0:00" when over. */
        fun countdown(secondsLeft: Long): String {
            val s = secondsLeft.coerceAtLeast(0)
            return "%d:%02d".format(s / 60, s % 60)
        }
    }
}
