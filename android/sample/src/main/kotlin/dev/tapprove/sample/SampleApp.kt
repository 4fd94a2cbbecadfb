package dev.tapprove.sample

import android.app.Application
import dev.tapprove.android.Tapprove

/** Configures the SDK once per process. */
class SampleApp : Application() {
    override fun onCreate() {
        super.onCreate()
        Tapprove.configure(this, BuildConfig.TAPPROVE_SERVER, BuildConfig.TAPPROVE_SDK_KEY)
    }
}
