package dev.tapprove.robotest

import org.robolectric.internal.dependency.DependencyResolver
import org.robolectric.pluginapi.Sdk
import org.robolectric.plugins.DefaultSdkProvider
import java.util.TreeMap
import javax.annotation.Priority
import javax.inject.Inject

/**
 * Robolectric knows Android 14 only: the one framework preloaded for offline runs (pom.xml).
 * Robolectric otherwise also loads its newest known SDK (Android 15) for framework resources.
 */
@Priority(1)
class Android14Only @Inject constructor(resolver: DependencyResolver) : DefaultSdkProvider(resolver) {
    override fun populateSdks(knownSdks: TreeMap<Int, Sdk>) {
        super.populateSdks(knownSdks)
        knownSdks.keys.retainAll(setOf(34))
    }
}
