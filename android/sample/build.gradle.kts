// Minimal sample app: pair screen (user name + code, or a scanned tapprove://pair link) and the
// approval screen (context, three options, Deny / Not me). Set the service URL and SDK key below.
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
    id("com.google.gms.google-services") version "4.4.2"
}

android {
    namespace = "dev.tapprove.sample"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.tapprove.sample"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        buildConfigField("String", "TAPPROVE_SERVER", "\"https://auth.example.com\"")
        buildConfigField("String", "TAPPROVE_SDK_KEY", "\"tap_sdk_REPLACE_WITH_YOUR_KEY_\"")
    }
    buildFeatures { buildConfig = true }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
}

dependencies {
    implementation(project(":"))
    // The app owns FCM (SampleMessagingService); the library does not depend on Firebase.
    implementation("com.google.firebase:firebase-messaging:24.1.0")
    implementation("androidx.appcompat:appcompat:1.7.0")
    implementation("androidx.lifecycle:lifecycle-runtime-ktx:2.8.7")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}
