package dev.tapprove.robotest

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import org.w3c.dom.Element
import java.io.File
import java.util.zip.ZipFile
import javax.xml.parsers.DocumentBuilderFactory

/**
 * What the core Android module hands a host app: a manifest that claims neither FCM nor the
 * backup settings (both belong to the app), no Firebase anywhere outside the FCM adapter (in
 * source, in the Gradle dependencies, or in the compiled classes), and backup rules an app can
 * merge.
 */
class LibraryShapeTest {
    private val root = File(System.getProperty("tapprove.root") ?: error("tapprove.root is not set (run through cargo xtask test android)"))
    private val android = File(root, "android")
    private val androidNs = "http://schemas.android.com/apk/res/android"

    private fun xml(file: File) = DocumentBuilderFactory.newInstance().apply { isNamespaceAware = true }.newDocumentBuilder().parse(file)

    private fun Element.children(tag: String): List<Element> {
        val nodes = getElementsByTagName(tag)
        return (0 until nodes.length).map { nodes.item(it) as Element }
    }

    @Test
    fun `the library manifest declares no FCM service and leaves backup settings to the app`() {
        val manifest = xml(File(android, "src/main/AndroidManifest.xml")).documentElement
        val actions = manifest.children("action").map { it.getAttributeNS(androidNs, "name") }
        assertFalse("MESSAGING_EVENT belongs to the app's own service: $actions", actions.any { it.endsWith(".MESSAGING_EVENT") })
        assertTrue("no <service> at all: the app declares its push service", manifest.children("service").isEmpty())
        for (application in manifest.children("application")) {
            for (attr in listOf("allowBackup", "fullBackupContent", "dataExtractionRules")) {
                assertFalse("android:$attr would fight the app's manifest merge", application.hasAttributeNS(androidNs, attr))
            }
        }
    }

    @Test
    fun `the core module neither depends on nor refers to Firebase`() {
        val gradle = File(android, "build.gradle.kts").readText()
        assertFalse("the core module's Gradle dependencies name Firebase", gradle.lineSequence().filterNot { it.trim().startsWith("//") }.any { "firebase" in it || "play-services" in it })
        val sources = listOf("src/main", "src/common").flatMap { File(android, it).walk().filter { f -> f.isFile }.toList() }
        assertTrue("found the module's sources", sources.size > 5)
        for (f in sources) {
            val text = f.readText()
            assertFalse("$f refers to Firebase", "com.google.firebase" in text || "com.google.android.gms" in text)
        }
        // The shipped classes too (a fully qualified name in code would pass the text check): the
        // AAR's classes.jar may not reference a Firebase or Play services class; the FCM
        // adapter's does.
        val aar = File(root, "target/android-aar")
        assertTrue("classes.jar unpacked from the AAR in $aar (cargo xtask test android does it)", File(aar, "classes.jar").isFile)
        assertEquals("classes of the core AAR that reference Firebase", emptyList<String>(), firebaseUsers(File(aar, "classes.jar")))
        assertTrue("the check sees Firebase where it is (the FCM adapter)", firebaseUsers(File(aar, "fcm-classes.jar")).isNotEmpty())
    }

    @Test
    fun `the backup rules keep the store out of cloud backup and device transfer`() {
        val legacyPrefs = "tapprove.xml"
        val full = xml(File(android, "src/main/res/xml/tapprove_backup_rules.xml")).documentElement
        assertEquals("full-backup-content", full.tagName)
        assertEquals(listOf("sharedpref:$legacyPrefs"), full.children("exclude").map { "${it.getAttribute("domain")}:${it.getAttribute("path")}" })
        val extraction = xml(File(android, "src/main/res/xml/tapprove_data_extraction_rules.xml")).documentElement
        assertEquals("data-extraction-rules", extraction.tagName)
        for (section in listOf("cloud-backup", "device-transfer")) {
            val excludes = extraction.children(section).single().children("exclude").map { "${it.getAttribute("domain")}:${it.getAttribute("path")}" }
            assertEquals(section, listOf("sharedpref:$legacyPrefs"), excludes)
        }
    }

    companion object {
        /** Every class of [jar] that references Firebase. */
        fun firebaseUsers(jar: File): List<String> = ZipFile(jar).use { zip ->
            zip.entries().toList()
                .filter { it.name.endsWith(".class") }
                .filter { referencesFirebase(zip.getInputStream(it).readBytes()) }
                .map { it.name }
        }

        /** Whether a class file's constant pool names a Firebase or Play services class. */
        fun referencesFirebase(bytes: ByteArray): Boolean {
            val text = String(bytes, Charsets.ISO_8859_1)
            return "com/google/firebase/" in text || "com/google/android/gms/" in text
        }
    }
}
