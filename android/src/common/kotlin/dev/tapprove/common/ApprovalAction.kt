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

    /** Whether this action approves the login (and so needs an unlocked phone on a notification). */
    fun approves(): Boolean = this is Choose || this is EnterCode || this == Approve

    /**
     * A string form for notification action intents. A typed code is never encoded: an
     * entry-mode action is only [ENTER_CODE]; the code comes back in the notification's
     * RemoteInput result and is passed to [decode].
     */
    fun encode(): String = when (this) {
        is Choose -> "choose:$option"
        is EnterCode -> ENTER_CODE
        Approve -> "approve"
        Deny -> "deny"
        NotMe -> "not_me"
    }

    companion object {
        /** The encoded form of [EnterCode]. */
        const val ENTER_CODE = "enter_code"

        /**
         * Parses [encode]'s output; [typed] is the code from the notification's RemoteInput
         * (needed, and non-blank, for [ENTER_CODE]). Null for anything else.
         */
        fun decode(s: String?, typed: String? = null): ApprovalAction? = when {
            s == null -> null
            s == "approve" -> Approve
            s == "deny" -> Deny
            s == "not_me" -> NotMe
            s == ENTER_CODE -> typed?.trim()?.takeIf { it.isNotEmpty() }?.let { EnterCode(it) }
            s.startsWith("choose:") && s.length > "choose:".length -> Choose(s.removePrefix("choose:"))
            else -> null
        }

        /**
         * The actions a notification offers (Android shows at most three): choose mode, the
         * three options (Deny / Not me are on the approval screen the notification opens);
         * entry mode, a code field plus Deny and Not me; none mode, Approve, Deny, Not me. A
         * request that asks for user verification offers only Deny and Not me.
         */
        fun forNotification(request: LoginRequest): List<ApprovalAction> = when {
            // The identity prompt needs the app in the foreground: approving happens on the
            // approval screen the notification's tap opens.
            request.userVerification != null -> listOf(Deny, NotMe)
            // Code to phone: approving is typing the code at the login; the app shows it.
            request.presenceMode == PresenceMode.DISPLAY -> listOf(Deny, NotMe)
            request.presenceMode == PresenceMode.CHOOSE -> request.options.take(3).map { Choose(it) }
            request.presenceMode == PresenceMode.ENTRY -> listOf(EnterCode(""), Deny, NotMe)
            else -> listOf(Approve, Deny, NotMe)
        }

        /** The actions of the approval screen (entry mode adds a code field to these). */
        fun forScreen(request: LoginRequest): List<ApprovalAction> = when (request.presenceMode) {
            PresenceMode.CHOOSE -> request.options.map { Choose(it) } + listOf(Deny, NotMe)
            PresenceMode.ENTRY -> listOf(Deny, NotMe)
            PresenceMode.NONE -> listOf(Approve, Deny, NotMe)
            PresenceMode.DISPLAY -> listOf(Deny, NotMe)
        }
    }
}
