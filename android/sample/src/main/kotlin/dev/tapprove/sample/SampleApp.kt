package dev.tapprove.sample

import android.app.Application
import com.google.firebase.messaging.FirebaseMessaging
import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import dev.tapprove.android.Tapprove

/** Configures the SDK once per process. */
class SampleApp : Application() {
    override fun onCreate() {
        super.onCreate()
        Tapprove.configure(this, BuildConfig.TAPPROVE_SERVER, BuildConfig.TAPPROVE_SDK_KEY)
        // FCM rotates tokens: hand the current one over on every start.
        FirebaseMessaging.getInstance().token.addOnSuccessListener(Tapprove::onNewPushToken)
    }
}

/** The app's own FCM service: Tapprove's messages are forwarded in one line each. */
class SampleMessagingService : FirebaseMessagingService() {
    override fun onNewToken(token: String) = Tapprove.onNewPushToken(token)

    override fun onMessageReceived(message: RemoteMessage) {
        Tapprove.onPushData(this, message.data)
    }
}
