package dev.tapprove.common

import dev.tapprove.LoginRequest
import dev.tapprove.PresenceMode

/** A browser and the system it runs on, either may be unknown. */
data class BrowserOs(val browser: String?, val os: String?)

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
                c.userAgent?.let { "Browser: ${browserName(it)}" },
                "Account: ${request.user}",
            )
            val prompt = when (request.presenceMode) {
                PresenceMode.CHOOSE -> "Tap the number shown on the login page"
                PresenceMode.ENTRY -> "Type the code shown on the login page"
                PresenceMode.NONE -> "Approve only if you are signing in right now"
            }
            return RequestPresentation(request.title, request.body, details, prompt, request.options)
        }

        /** A short browser description from a user agent (the full string is too long to show). */
        fun browserName(userAgent: String): String {
            val known = knownBrowserOs(userAgent)
            return listOfNotNull(known?.browser, known?.os?.let { "on $it" }).joinToString(" ").ifEmpty { userAgent.take(40) }
        }

        /**
         * The browser and system a user agent names, when they are among the known ones; null
         * otherwise. A user agent is the sign-in page's visitor's own text (it may be written to
         * look like an instruction from us), so only these names are ever shown from it.
         */
        fun knownBrowserOs(userAgent: String): BrowserOs? {
            val known = listOf("Edg/" to "Edge", "Firefox/" to "Firefox", "Chrome/" to "Chrome", "Safari/" to "Safari")
            val browser = known.firstOrNull { userAgent.contains(it.first) }?.second
            val os = listOf("Windows", "Android", "iPhone", "Mac OS X", "Linux").firstOrNull { userAgent.contains(it) }
            return if (browser == null && os == null) null else BrowserOs(browser, os)
        }

        /** "1:05" for 65 seconds; "0:00" when over. */
        fun countdown(secondsLeft: Long): String {
            val s = secondsLeft.coerceAtLeast(0)
            return "%d:%02d".format(s / 60, s % 60)
        }
    }
}
