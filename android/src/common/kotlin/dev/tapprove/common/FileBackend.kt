package dev.tapprove.common

import java.io.File
import java.io.IOException

/**
 * A [KeyValueBackend] of one file per name in [dir] (on Android: under `noBackupFilesDir`, which
 * neither Auto Backup nor device-to-device transfer copies, so a restored phone starts like a
 * fresh install instead of with sealed values whose Keystore key stayed behind).
 *
 * File names are the hex of the UTF-8 name (store keys may hold any character); a write goes to
 * a temporary file renamed over the old one, so a crash leaves the old value or the new one.
 */
class FileBackend(private val dir: File) : KeyValueBackend {
    override fun read(name: String): ByteArray? {
        val file = fileOf(name)
        return try {
            file.readBytes()
        } catch (e: IOException) {
            if (file.exists()) throw IOException("could not read stored value $name in $dir: ${e.message}", e)
            null
        }
    }

    override fun write(name: String, bytes: ByteArray) {
        if (!dir.isDirectory && !dir.mkdirs() && !dir.isDirectory) throw IOException("could not create the store directory $dir")
        val tmp = File(dir, "${fileOf(name).name}$TMP")
        tmp.writeBytes(bytes)
        if (!tmp.renameTo(fileOf(name))) {
            tmp.delete()
            throw IOException("could not store $name in $dir")
        }
    }

    override fun remove(name: String) {
        val file = fileOf(name)
        if (!file.delete() && file.exists()) throw IOException("could not remove $name from $dir")
    }

    override fun names(): Set<String> =
        dir.listFiles().orEmpty()
            .filter { it.isFile && it.name.endsWith(EXT) }
            .mapNotNull { decode(it.name.removeSuffix(EXT)) }
            .toSet()

    private fun fileOf(name: String) = File(dir, name.toByteArray(Charsets.UTF_8).joinToString("") { "%02x".format(it) } + EXT)

    private fun decode(hex: String): String? {
        if (hex.length % 2 != 0) return null
        val bytes = ByteArray(hex.length / 2) { i -> hex.substring(2 * i, 2 * i + 2).toIntOrNull(16)?.toByte() ?: return null }
        return String(bytes, Charsets.UTF_8)
    }

    private companion object {
        const val EXT = ".sealed"
        const val TMP = ".tmp"
    }
}
