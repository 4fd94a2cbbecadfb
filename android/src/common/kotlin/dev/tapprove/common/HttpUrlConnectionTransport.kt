package dev.tapprove.common

import dev.tapprove.AuthException
import dev.tapprove.HttpHeader
import dev.tapprove.HttpRequest
import dev.tapprove.HttpResponse
import dev.tapprove.HttpTransport
import java.io.IOException
import java.io.InputStream
import java.net.HttpURLConnection
import java.net.URL

/**
 * Sends the SDK's device API calls with the platform's `HttpURLConnection`, so the app's proxy
 * settings, user-installed CAs, Network Security Config and VPN rules apply (the built-in Rust
 * client sees none of them). Pass it to `Authenticator.withTransport(...)`.
 *
 * Only bytes pass through here: the SDK builds and signs each request in Rust (the request
 * proof is already in the `Authorization` header) and reads each response itself. Redirects
 * are not followed (a redirect would break the proof); an HTTP error status is a normal
 * response; only a failed exchange throws. Plain `java.net`, so it runs on the JVM too.
 */
class HttpUrlConnectionTransport(
    /** Opens the connection; replace it to route through a specific `Network` or a proxy. */
    private val open: (URL) -> HttpURLConnection = { it.openConnection() as HttpURLConnection },
) : HttpTransport {
    override fun send(request: HttpRequest): HttpResponse {
        val connection = try {
            open(URL(request.url))
        } catch (e: IOException) {
            throw AuthException.Network("could not open ${request.url}: $e")
        }
        try {
            val timeout = request.timeoutMs.coerceAtMost(Int.MAX_VALUE.toULong()).toInt()
            connection.connectTimeout = timeout
            connection.readTimeout = timeout
            connection.instanceFollowRedirects = false
            connection.useCaches = false
            connection.requestMethod = request.method
            for (header in request.headers) connection.addRequestProperty(header.name, header.value)
            if (request.body.isNotEmpty() || request.method == "POST" || request.method == "PUT") {
                connection.doOutput = true
                connection.setFixedLengthStreamingMode(request.body.size)
                connection.outputStream.use { it.write(request.body) }
            }
            val status = connection.responseCode
            val headers = connection.headerFields.flatMap { (name, values) ->
                // The status line comes back under the null key.
                if (name == null) emptyList() else values.map { HttpHeader(name, it) }
            }
            val stream: InputStream? = if (status >= 400) connection.errorStream else connection.inputStream
            val body = stream?.use { readAtMost(it, MAX_BODY) } ?: ByteArray(0)
            return HttpResponse(status.toUShort(), headers, body)
        } catch (e: IOException) {
            throw AuthException.Network("could not reach ${connection.url.host}: $e")
        } finally {
            connection.disconnect()
        }
    }

    private fun readAtMost(input: InputStream, limit: Int): ByteArray {
        val out = java.io.ByteArrayOutputStream()
        val buf = ByteArray(8192)
        while (true) {
            val n = input.read(buf)
            if (n < 0) return out.toByteArray()
            if (out.size() + n > limit) throw IOException("the answer is larger than $limit bytes")
            out.write(buf, 0, n)
        }
    }

    private companion object {
        /** The SDK refuses larger answers anyway (device API answers are a few KB). */
        const val MAX_BODY = 1 shl 20
    }
}
