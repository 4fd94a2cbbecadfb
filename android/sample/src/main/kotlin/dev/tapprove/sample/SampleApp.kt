package dev.tapprove.sample

import android.app.Application
import dev.tapprove.android.Tapprove
import dev.tapprove.android.TapproveMessagingService

/** Configures the SDK once per process. */
class SampleApp : Application() {
    override fun onCreate() {
        super.onCreate()
        Tapprove.configure(this, BuildConfig.TAPPROVE_SERVER, BuildConfig.TAPPROVE_SDK_KEY)
        // FCM rotates tokens: register the current one on every start.
        TapproveMessagingService.registerCurrentToken()
    }
}
