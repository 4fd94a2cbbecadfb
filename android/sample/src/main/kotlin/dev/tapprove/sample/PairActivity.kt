package dev.tapprove.sample

import android.Manifest
import android.os.Build
import android.os.Bundle
import android.text.InputType
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.lifecycleScope
import dev.tapprove.android.Tapprove
import dev.tapprove.android.Texts
import dev.tapprove.common.PairingUiState
import dev.tapprove.common.PairingViewModel
import kotlinx.coroutines.launch

/**
 * Pair screen: type the user name and the pairing code the website shows, or open a
 * `tapprove://pair?…` link (from the site's QR code, scanned with the camera app) to confirm.
 */
class PairActivity : AppCompatActivity() {
    private lateinit var vm: PairingViewModel

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        if (Build.VERSION.SDK_INT >= 33) requestPermissions(arrayOf(Manifest.permission.POST_NOTIFICATIONS), 1)
        vm = PairingViewModel(Tapprove.authenticator, lifecycleScope)

        val status = TextView(this)
        val user = EditText(this).apply { hint = getString(R.string.user_name) }
        val code = EditText(this).apply {
            hint = getString(R.string.pairing_code_hint)
            inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_CAP_CHARACTERS
        }
        val pair = Button(this).apply { text = getString(R.string.pair); setOnClickListener { vm.submitCode(user.text.toString(), code.text.toString()) } }
        val confirm = Button(this).apply { text = getString(R.string.confirm); setOnClickListener { vm.confirm() } }
        val accounts = TextView(this)
        val forget = Button(this).apply {
            text = getString(R.string.forget_broken)
            setOnClickListener {
                for (broken in Tapprove.authenticator.accountsNeedingRepair()) Tapprove.authenticator.forgetAccount(broken.accountId)
                recreate()
            }
        }
        val requests = Button(this).apply {
            text = getString(R.string.requests_open)
            setOnClickListener { startActivity(android.content.Intent(this@PairActivity, RequestsActivity::class.java)) }
        }
        setContentView(
            LinearLayout(this).apply {
                orientation = LinearLayout.VERTICAL
                setPadding(48, 48, 48, 48)
                listOf(TextView(context).apply { text = getString(R.string.pair_title); textSize = 22f }, user, code, pair, confirm, status, accounts, forget, requests)
                    .forEach { addView(it) }
            },
        )

        intent?.data?.toString()?.let { vm.scanned(it) }
        lifecycleScope.launch {
            vm.state.collect { s ->
                confirm.visibility = if (s is PairingUiState.Confirm) android.view.View.VISIBLE else android.view.View.GONE
                status.text = when (s) {
                    is PairingUiState.Form -> s.error?.let { Texts.pairingProblem(this@PairActivity, it) } ?: ""
                    is PairingUiState.Confirm -> getString(R.string.pair_confirm, s.user, s.server)
                    PairingUiState.Pairing -> getString(R.string.pairing)
                    is PairingUiState.Paired -> getString(R.string.paired, s.account.user, s.account.projectName)
                }
                val paired = runCatching { Tapprove.authenticator.accounts() }.getOrDefault(emptyList())
                    .map { getString(R.string.account_line, it.user, it.projectName) }
                // Accounts whose records did not come back readable (a restored backup): the
                // user pairs again; Forget removes them.
                val broken = runCatching { Tapprove.authenticator.accountsNeedingRepair() }.getOrDefault(emptyList())
                forget.visibility = if (broken.isEmpty()) android.view.View.GONE else android.view.View.VISIBLE
                accounts.text = (paired + broken.map { getString(R.string.needs_repair_line, it.accountId) })
                    .joinToString("\n", prefix = getString(R.string.accounts_heading) + "\n")
            }
        }
    }
}
