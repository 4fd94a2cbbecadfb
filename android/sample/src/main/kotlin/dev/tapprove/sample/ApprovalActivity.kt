package dev.tapprove.sample

import android.content.Intent
import android.os.Bundle
import android.text.InputType
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.lifecycleScope
import dev.tapprove.PresenceMode
import dev.tapprove.android.ApprovalNotifications
import dev.tapprove.android.Tapprove
import dev.tapprove.android.Texts
import dev.tapprove.common.ApprovalAction
import dev.tapprove.common.ApprovalUiState
import dev.tapprove.common.ApprovalViewModel
import dev.tapprove.common.RequestPresentation
import dev.tapprove.common.responderOf
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch

/**
 * Approval screen: who is signing in (app, place, IP, browser), a countdown, the three numbers
 * (or a code field), and Deny / Not me.
 */
class ApprovalActivity : AppCompatActivity() {
    private var shown: Job? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        show(intent)
    }

    // singleTop: a second request tapped while this screen is open arrives here, not in onCreate.
    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        setIntent(intent)
        show(intent)
    }

    private fun show(intent: Intent) {
        val requestId = intent.getStringExtra(ApprovalNotifications.EXTRA_REQUEST_ID) ?: return finish()
        ApprovalNotifications.dismiss(this, requestId)
        val root = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL; setPadding(48, 48, 48, 48) }
        setContentView(root)
        shown?.cancel()
        shown = lifecycleScope.launch {
            val request = runCatching { Tapprove.authenticator.pending(null) }.getOrDefault(emptyList())
                .firstOrNull { it.id == requestId }
            if (request == null) {
                root.addView(TextView(this@ApprovalActivity).apply { text = getString(R.string.no_longer_pending) })
                return@launch
            }
            val vm = ApprovalViewModel(request, responderOf(Tapprove.authenticator), lifecycleScope)
            val p = Texts.presentation(this@ApprovalActivity, request)
            root.addView(TextView(this@ApprovalActivity).apply { text = p.title; textSize = 22f })
            root.addView(TextView(this@ApprovalActivity).apply { text = (listOf(p.body) + p.details).joinToString("\n") })
            root.addView(TextView(this@ApprovalActivity).apply { text = p.prompt })
            val countdown = TextView(this@ApprovalActivity)
            val status = TextView(this@ApprovalActivity)
            root.addView(countdown)
            if (request.presenceMode == PresenceMode.ENTRY) {
                val code = EditText(this@ApprovalActivity).apply { hint = getString(R.string.code_hint); inputType = InputType.TYPE_CLASS_NUMBER }
                root.addView(code)
                root.addView(Button(this@ApprovalActivity).apply { text = getString(R.string.approve); setOnClickListener { vm.submit(ApprovalAction.EnterCode(code.text.toString())) } })
            }
            for (action in vm.actions) {
                root.addView(Button(this@ApprovalActivity).apply { text = Texts.label(this@ApprovalActivity, action); setOnClickListener { vm.submit(action) } })
            }
            root.addView(status)
            launch { while (true) { vm.tick(); delay(1_000) } }
            vm.state.collect { s ->
                when (s) {
                    is ApprovalUiState.Deciding -> {
                        countdown.text = getString(R.string.expires_in, RequestPresentation.countdown(s.secondsLeft))
                        status.text = s.error?.let { Texts.message(this@ApprovalActivity, it) } ?: ""
                    }
                    is ApprovalUiState.Sending -> status.text = getString(R.string.sending)
                    is ApprovalUiState.Done -> status.text = Texts.message(this@ApprovalActivity, s.message)
                    is ApprovalUiState.Closed -> status.text = Texts.message(this@ApprovalActivity, s.message)
                }
            }
        }
    }
}
