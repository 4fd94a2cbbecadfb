package dev.tapprove.android

import android.content.Context
import dev.tapprove.AuthException
import dev.tapprove.ClosedReason
import dev.tapprove.LoginRequest
import dev.tapprove.PresenceMode
import dev.tapprove.RespondOutcome
import dev.tapprove.SessionReason
import dev.tapprove.SessionStatus
import dev.tapprove.UvFailure
import dev.tapprove.common.ApprovalAction
import dev.tapprove.common.ApprovalMessage
import dev.tapprove.common.ContextLine
import dev.tapprove.common.EndedHow
import dev.tapprove.common.EndedReport
import dev.tapprove.common.PairingProblem
import dev.tapprove.common.BrowserOs
import dev.tapprove.common.RequestListItem
import dev.tapprove.common.RequestPresentation
import java.text.DateFormat
import java.util.Date

/**
 * A login request and its actions in the user's language, from the library's string resources
 * (res/values*, English and German). The Android shell shows only these; the service's own
 * title and body arrive already written for the user.
 */
object Texts {
    /** The label of [action] on a notification or a button. */
    fun label(context: Context, action: ApprovalAction): String = when (action) {
        is ApprovalAction.Choose -> action.option
        is ApprovalAction.EnterCode -> context.getString(R.string.tapprove_action_enter_code)
        ApprovalAction.Approve -> context.getString(R.string.tapprove_action_approve)
        ApprovalAction.Deny -> context.getString(R.string.tapprove_action_deny)
        ApprovalAction.NotMe -> context.getString(R.string.tapprove_action_not_me)
    }

    /** [request] for a notification or the approval screen. */
    fun presentation(context: Context, request: LoginRequest): RequestPresentation {
        val details = ContextLine.of(request).map { line(context, it) }
        return RequestPresentation(request.title, request.body, details, prompt(context, request), request.options)
    }

    /** One context line of a request. */
    fun line(context: Context, line: ContextLine): String = when (line) {
        is ContextLine.App -> line.name
        is ContextLine.Near -> context.getString(R.string.tapprove_detail_near, line.location)
        is ContextLine.Ip -> context.getString(R.string.tapprove_detail_ip, line.address)
        is ContextLine.Browser -> context.getString(R.string.tapprove_detail_browser, browser(context, line.names))
        is ContextLine.Account -> context.getString(R.string.tapprove_detail_account, line.user)
    }

    /** What the approval screen tells the user. */
    fun message(context: Context, message: ApprovalMessage): String = when (message) {
        ApprovalMessage.TimedOut -> context.getString(R.string.tapprove_closed_timed_out)
        ApprovalMessage.AnsweredElsewhere -> context.getString(R.string.tapprove_closed_answered_elsewhere)
        ApprovalMessage.Expired -> context.getString(R.string.tapprove_closed_expired)
        ApprovalMessage.Canceled -> context.getString(R.string.tapprove_closed_canceled)
        ApprovalMessage.CodeMissing -> context.getString(R.string.tapprove_error_code_missing)
        ApprovalMessage.NotAnOption -> context.getString(R.string.tapprove_error_not_an_option)
        is ApprovalMessage.Decided -> outcome(context, message.outcome)
        is ApprovalMessage.Failed -> error(context, message.error)
    }

    /** Why the pair screen is back at its form. */
    fun pairingProblem(context: Context, problem: PairingProblem): String = when (problem) {
        PairingProblem.MissingInput -> context.getString(R.string.tapprove_pairing_missing_input)
        is PairingProblem.Failed -> error(context, problem.error)
    }

    /**
     * [e] in the user's language, from its type alone: the core's `userMessage()` is English and
     * only fit for logs. No `else`, so a new error variant does not compile until it has a text.
     */
    fun error(context: Context, e: AuthException): String = when (e) {
        is AuthException.InvalidInput -> context.getString(R.string.tapprove_error_invalid_input)
        is AuthException.PairingRejected -> context.getString(R.string.tapprove_error_pairing_rejected)
        is AuthException.Revoked -> e.revokedAt?.let { context.getString(R.string.tapprove_error_revoked_on, dateTime(context, it)) }
            ?: context.getString(R.string.tapprove_error_revoked)
        is AuthException.UserVerification -> context.getString(
            when (e.reason) {
                UvFailure.CANCELLED -> R.string.tapprove_error_uv_cancelled
                UvFailure.UNAVAILABLE -> R.string.tapprove_error_uv_unavailable
                UvFailure.FAILED -> R.string.tapprove_error_uv_failed
            },
        )
        is AuthException.KeyUpdateRefused -> context.getString(R.string.tapprove_error_key_update_refused)
        is AuthException.NotPaired -> context.getString(R.string.tapprove_error_not_paired)
        is AuthException.UnpairedLocallyOnly -> context.getString(R.string.tapprove_error_unpaired_locally_only)
        is AuthException.Network -> context.getString(R.string.tapprove_error_network)
        is AuthException.RateLimited -> e.retryAfterSeconds?.let {
            // Clamped: a service asking for more than Int seconds still reads as a number.
            val seconds = it.coerceAtMost(Int.MAX_VALUE.toULong()).toInt()
            context.resources.getQuantityString(R.plurals.tapprove_error_rate_limited_seconds, seconds, seconds)
        } ?: context.getString(R.string.tapprove_error_rate_limited)
        is AuthException.UpdateRequired -> context.getString(R.string.tapprove_error_update_required)
        is AuthException.RequestClosed -> context.getString(
            when (e.reason) {
                ClosedReason.EXPIRED -> R.string.tapprove_closed_expired
                ClosedReason.ALREADY_ANSWERED -> R.string.tapprove_error_closed_already_answered
                ClosedReason.NOT_PENDING -> R.string.tapprove_error_closed_not_pending
                ClosedReason.ENDED -> R.string.tapprove_error_closed_ended
            },
        )
        is AuthException.InvalidNotification -> context.getString(R.string.tapprove_error_invalid_notification)
        is AuthException.Service -> context.getString(R.string.tapprove_error_service, e.status.toInt())
        is AuthException.Cancelled -> context.getString(R.string.tapprove_error_cancelled)
        is AuthException.Platform -> context.getString(R.string.tapprove_error_platform)
        is AuthException.Internal -> context.getString(R.string.tapprove_error_internal)
    }

    /** What to tell the user after the service decided. */
    fun outcome(context: Context, outcome: RespondOutcome): String = context.getString(
        when {
            outcome.status == SessionStatus.ACCEPTED -> R.string.tapprove_outcome_approved
            outcome.reason == SessionReason.WRONG_NUMBER -> R.string.tapprove_outcome_wrong_number
            outcome.reason == SessionReason.FRAUD_REPORTED -> R.string.tapprove_outcome_fraud_reported
            outcome.reason == SessionReason.USER_DENIED -> R.string.tapprove_outcome_denied
            else -> R.string.tapprove_outcome_over
        },
    )

    /**
     * "Firefox on Linux" in the user's language, from the service's signed names only (never the
     * user agent itself); a browser the service could not name reads "unknown browser".
     */
    private fun browser(context: Context, b: BrowserOs): String {
        val browser = b.browser ?: context.getString(R.string.tapprove_browser_unknown)
        return b.os?.let { context.getString(R.string.tapprove_browser_on_os, browser, it) } ?: browser
    }

    /** How and when an ended request ended, for its line in the request list. */
    fun ended(context: Context, item: RequestListItem.Ended): String = context.getString(
        when (item.how) {
            EndedHow.REPLACED_OR_CANCELED -> R.string.tapprove_ended_replaced
            EndedHow.EXPIRED -> R.string.tapprove_ended_expired
        },
        dateTime(context, item.ended.endedAt),
    )

    /** The one action of an ended request ("This wasn't me"). */
    fun reportEndedLabel(context: Context): String = context.getString(R.string.tapprove_action_report_ended)

    /** What reporting an ended request came to. */
    fun endedReport(context: Context, report: EndedReport): String = when (report) {
        is EndedReport.Reported -> context.getString(R.string.tapprove_ended_reported)
        is EndedReport.Failed -> error(context, report.error)
    }

    /** [unixSeconds] as a date and time in the user's language and time zone. */
    fun dateTime(context: Context, unixSeconds: Long): String =
        DateFormat.getDateTimeInstance(DateFormat.MEDIUM, DateFormat.SHORT, context.resources.configuration.locales[0])
            .format(Date(unixSeconds * 1000))

    /**
     * The texts of a code-to-phone approval screen (its state is `DisplayCodeModel`): the
     * "Show the code" button, the line above the code, and "This wasn't me" for
     * `ApprovalAction.NotMe`. The code appears only there, never in a notification.
     */
    fun displayCode(context: Context): DisplayCodeTexts = DisplayCodeTexts(
        showCode = context.getString(R.string.tapprove_display_show_code),
        codeLabel = context.getString(R.string.tapprove_display_code_label),
        notMe = context.getString(R.string.tapprove_display_not_me),
    )

    /** What the user must do for [request]. */
    fun prompt(context: Context, request: LoginRequest): String = when (request.presenceMode) {
        PresenceMode.CHOOSE -> context.getString(R.string.tapprove_prompt_choose)
        PresenceMode.ENTRY -> request.codeLength?.toInt()?.let {
            context.resources.getQuantityString(R.plurals.tapprove_prompt_entry_digits, it, it)
        } ?: context.getString(R.string.tapprove_prompt_entry)
        PresenceMode.NONE -> context.getString(R.string.tapprove_prompt_none)
        // The code itself is never in a notification: only the unlocked app shows it.
        PresenceMode.DISPLAY -> context.getString(R.string.tapprove_prompt_display)
    }
}

/** See [Texts.displayCode]. */
data class DisplayCodeTexts(val showCode: String, val codeLabel: String, val notMe: String)
