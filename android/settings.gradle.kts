// The Tapprove Android library (this directory) and its sample app. Apps usually include the
// library modules from their own settings instead:
//   include(":tapprove", ":tapprove-fcm")
//   project(":tapprove").projectDir = file("…/android")
//   project(":tapprove-fcm").projectDir = file("…/android/fcm") // only with Firebase
//   project(":tapprove-unifiedpush").projectDir = file("…/android/unifiedpush") // UnifiedPush
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
    // Versions for this directory's own build only; the library modules pin none.
    plugins {
        id("com.android.library") version "8.7.3"
        id("com.android.application") version "8.7.3"
        id("org.jetbrains.kotlin.android") version "2.2.21"
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "tapprove-android"
include(":fcm", ":unifiedpush", ":sample")
