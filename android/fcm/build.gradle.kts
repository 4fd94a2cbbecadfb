// The FCM adapter (tapprove-android-fcm): TapproveMessagingService, for apps without their own
// FirebaseMessagingService. The core module (..) does not depend on Firebase; apps on HMS or
// without Google services leave this artifact out. Plugin versions come from the host build.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.tapprove.android.fcm"
    compileSdk = 35
    defaultConfig { minSdk = 26 }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
}

dependencies {
    // The core module: ":tapprove" when a host app includes both, ":" in this directory's own build.
    api(findProject(":tapprove") ?: project(":"))
    implementation("com.google.firebase:firebase-messaging:24.1.0")
}
