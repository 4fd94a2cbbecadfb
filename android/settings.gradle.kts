// The Tapprove Android library (this directory) and its sample app. Apps usually include the
// library module from their own settings instead: include(":tapprove"); project(":tapprove").projectDir = file("…/android")
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "tapprove-android"
include(":sample")
