// Tapprove Android library: the uniffi-generated Kotlin (bindings/generated/kotlin), the
// Android-free shell logic (src/common/kotlin, also compiled and tested on the JVM by
// android/jvm-tests) and the Android glue (src/main/kotlin). The native library comes from
// cargo-ndk into src/main/jniLibs/<abi>/libtapprove_ffi.so; see README.md.
// No plugin versions here: a host app that includes this module brings its own AGP and Kotlin
// (supported: AGP 8.1+, Kotlin 1.9+; README.md). This directory's own build (the sample) sets
// them in settings.gradle.kts.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.tapprove.android"
    compileSdk = 35

    defaultConfig {
        minSdk = 26 // java.util.Base64, Keystore AES-GCM, NotificationChannel
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].apply {
        kotlin.srcDirs("src/main/kotlin", "src/common/kotlin", "../bindings/generated/kotlin")
        jniLibs.srcDirs("src/main/jniLibs")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
}

dependencies {
    // The Android framework, JNA and coroutines only. Firebase lives in the separate FCM adapter
    // module (fcm/), so HMS and Google-free apps build without it.
    // uniffi's Kotlin loads the library through JNA; the @aar variant carries JNA's own .so files.
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}
