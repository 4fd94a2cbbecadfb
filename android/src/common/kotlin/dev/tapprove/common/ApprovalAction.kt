package dev.tapprove.common

import dev.tapprove.Decision
import dev.tapprove.DenyReason
import dev.tapprove.LoginRequest
import dev.tapprove.PresenceMode

/** One thing the user can do with a login request, on the approval screen or a notification. */
sealed interface ApprovalAction {
    /** Choose mode: the option the user picked. */
    data class Choose(val option: String) : ApprovalAction

    /** Entry mode: the code the user typed. */
    data class EnterCode(val code: String) : ApprovalAction

    /** `none` mode: plain approve. */
    data object Approve : ApprovalAction

    /** Deny ("cancel": the user changed their mind). */
    data object Deny : ApprovalAction

    /** Deny as "not me": reported as fraud. */
    data object NotMe : ApprovalAction

    /** The decision sent to the service. */
    fun toDecision(): Decision = when (this) {
        is Choose -> Decision.Approve(option)
        is EnterCode -> Decision.Approve(code.trim())
        Approve -> Decision.Approve(null)
        Deny -> Decision.Deny(DenyReason.CANCELLED)
        NotMe -> Decision.Deny(DenyReason.NOT_ME)
    }

    /** Short label for buttons. */
    fun label(): String = when (this) {
        is Choose -> option
        is EnterCode -> "Approve"
        Approve -> "Approve"
        Deny -> "Deny"
        NotMe -> "Not me"
    }

    /**
     * A string form for notification action intents. Entry-mode codes are never encoded: a
     * code is typed on the approval screen, not carried in an intent.
     */
    fun encode(): String? = when (this) {
        is Choose -> "choose:$option"
        is EnterCode -> null
        Approve -> "approve"
        Deny -> "deny"
        NotMe -> "not_me"
    }

    companion object {
        /** Parses [encode]'s output; null for anything else. */
        fun decode(s: String?): ApprovalAction? = when {
            s == null -> null
            s == "approve" -> Approve
            s == "deny" -> Deny
            s == "not_me" -> NotMe
            s.startsWith("choose:") && s.length > "choose:".length -> Choose(s.removePrefix("choose:"))
            else -> null
        }

        /**
         * The actions a notification offers. Number matching happens on the approval screen
         * (tapping the notification), so a notification only offers Deny / Not me — plus
         * Approve when the request has no code to match.
         */
        fun forNotification(request: LoginRequest): List<ApprovalAction> =
            if (request.presenceMode == PresenceMode.NONE) listOf(Approve, Deny, NotMe) else listOf(Deny, NotMe)

        /** The actions of the approval screen (entry mode adds a code field to these). */
        fun forScreen(request: LoginRequest): List<ApprovalAction> = when (request.presenceMode) {
            PresenceMode.CHOOSE -> request.options.map { Choose(it) } + listOf(Deny, NotMe)
            PresenceMode.ENTRY -> listOf(Deny, NotMe)
            PresenceMode.NONE -> listOf(Approve, Deny, NotMe)
        }
    }
}
