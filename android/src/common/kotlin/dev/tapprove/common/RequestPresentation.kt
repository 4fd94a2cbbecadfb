package dev.tapprove.common

import dev.tapprove.LoginContext
import dev.tapprove.LoginRequest

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

/** One context line of a login request; the shells render each in the user's language. */
sealed interface ContextLine {
    data class App(val name: String) : ContextLine
    data class Near(val location: String) : ContextLine
    data class Ip(val address: String) : ContextLine
    data class Browser(val names: BrowserOs) : ContextLine
    data class Account(val user: String) : ContextLine

    companion object {
        /** The lines of [request], most useful first (app, place, address, browser, account). */
        fun of(request: LoginRequest): List<ContextLine> {
            val c = request.context
            return listOfNotNull(
                c.app?.let(::App),
                c.location?.let(::Near),
                c.ip?.let(::Ip),
                BrowserOs.of(c)?.let(::Browser),
                Account(request.user),
            )
        }
    }
}

/** The text of a login request for a notification or the approval screen, in the user's language. */
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
        /** "1:05" for 65 seconds; "0:00" when over. */
        fun countdown(secondsLeft: Long): String {
            val s = secondsLeft.coerceAtLeast(0)
            return "%d:%02d".format(s / 60, s % 60)
        }
    }
}
