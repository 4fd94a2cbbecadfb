package dev.tapprove.sample

import android.content.Intent
import android.os.Bundle
import android.widget.Button
import android.widget.LinearLayout
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.lifecycleScope
import dev.tapprove.android.ApprovalNotifications
import dev.tapprove.android.Tapprove
import dev.tapprove.android.Texts
import dev.tapprove.common.RequestListItem
import dev.tapprove.common.RequestListModel
import dev.tapprove.common.requestSourceOf
import dev.tapprove.common.responderOf
import kotlinx.coroutines.launch

/**
 * The request list: pending requests (tap one to answer it on the approval screen), then the
 * ones that ended before anyone answered, shown as over with one action, "This wasn't me".
 */
class RequestsActivity : AppCompatActivity() {
    private lateinit var model: RequestListModel

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        model = RequestListModel(requestSourceOf(Tapprove.authenticator), responderOf(Tapprove.authenticator), lifecycleScope)
        val root = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL; setPadding(48, 48, 48, 48) }
        setContentView(root)
        lifecycleScope.launch {
            model.state.collect { s ->
                root.removeAllViews()
                root.addView(TextView(this@RequestsActivity).apply { text = getString(R.string.requests_title); textSize = 22f })
                if (s.items.isEmpty()) root.addView(TextView(this@RequestsActivity).apply { text = getString(R.string.requests_none) })
                for (item in s.items) {
                    val p = Texts.presentation(this@RequestsActivity, item.request)
                    root.addView(TextView(this@RequestsActivity).apply { text = (listOf(p.title) + p.details).joinToString("\n") })
                    when (item) {
                        is RequestListItem.Pending -> root.addView(
                            Button(this@RequestsActivity).apply {
                                text = getString(R.string.requests_answer)
                                setOnClickListener {
                                    startActivity(
                                        Intent(this@RequestsActivity, ApprovalActivity::class.java)
                                            .putExtra(ApprovalNotifications.EXTRA_REQUEST_ID, item.request.id),
                                    )
                                }
                            },
                        )
                        is RequestListItem.Ended -> {
                            root.addView(TextView(this@RequestsActivity).apply { text = Texts.ended(this@RequestsActivity, item) })
                            root.addView(
                                Button(this@RequestsActivity).apply {
                                    text = Texts.reportEndedLabel(this@RequestsActivity)
                                    setOnClickListener { model.report(item) }
                                },
                            )
                        }
                    }
                }
                s.report?.let { r -> root.addView(TextView(this@RequestsActivity).apply { text = Texts.endedReport(this@RequestsActivity, r) }) }
            }
        }
    }

    override fun onResume() {
        super.onResume()
        lifecycleScope.launch { model.refresh() }
    }
}
