package dev.tapprove.robotest

import org.robolectric.internal.dependency.DependencyResolver
import org.robolectric.pluginapi.Sdk
import org.robolectric.plugins.DefaultSdkProvider
import java.util.TreeMap
import javax.annotation.Priority
import javax.inject.Inject

/**
 * Robolectric knows only the frameworks preloaded for offline runs (pom.xml): Android 14, and
 * Android 11 for the tests of what differs below Android 12. Robolectric otherwise also loads
 * its newest known SDK (Android 15) for framework resources.
 */
@Priority(1)
class PreloadedSdksOnly @Inject constructor(resolver: DependencyResolver) : DefaultSdkProvider(resolver) {
    override fun populateSdks(knownSdks: TreeMap<Int, Sdk>) {
        super.populateSdks(knownSdks)
        knownSdks.keys.retainAll(setOf(30, 34))
    }
}
