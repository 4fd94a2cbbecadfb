// The UnifiedPush adapter (tapprove-android-unifiedpush): TapproveUnifiedPushService, Web Push
// through the distributor the user chose, for phones without Google Play services. The core
// module (..) keeps no push SDK; apps that ship only FCM leave this artifact out. Plugin versions
// come from the host build.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.tapprove.android.unifiedpush"
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
    // Decrypts messages (RFC 8291) with Tink before they reach the adapter.
    implementation("org.unifiedpush.android:connector:3.1.2")
}
