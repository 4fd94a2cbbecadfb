package dev.tapprove.common

import dev.tapprove.AuthException
import dev.tapprove.HttpBodyStream
import dev.tapprove.HttpHeader
import dev.tapprove.HttpRequest
import dev.tapprove.HttpStreamTransport
import java.io.IOException
import java.net.HttpURLConnection
import java.net.URL

/**
 * The event stream (`listen`) over the platform's `HttpURLConnection`, for the same reasons as
 * [HttpUrlConnectionTransport]: the body reaches the SDK piece by piece as the service writes
 * it, and stopping `listen` closes the connection. Pass it as `streaming` to
 * `Authenticator.withTransport(...)`.
 */
class HttpUrlConnectionStreamTransport(
    /** Opens the connection; replace it to route through a specific `Network` or a proxy. */
    private val open: (URL) -> HttpURLConnection = { it.openConnection() as HttpURLConnection },
) : HttpStreamTransport {
    override fun openStream(request: HttpRequest): HttpBodyStream {
        val connection = try {
            open(URL(request.url))
        } catch (e: IOException) {
            throw AuthException.Network("could not open ${request.url}: $e")
        }
        val timeout = request.timeoutMs.coerceAtMost(Int.MAX_VALUE.toULong()).toInt()
        connection.connectTimeout = timeout
        // Per read: the service sends a keep-alive comment well within it.
        connection.readTimeout = timeout
        connection.instanceFollowRedirects = false
        connection.useCaches = false
        connection.requestMethod = request.method
        for (header in request.headers) connection.addRequestProperty(header.name, header.value)
        return try {
            ConnectionBody(connection)
        } catch (e: IOException) {
            connection.disconnect()
            throw AuthException.Network("could not reach ${connection.url.host}: $e")
        }
    }

    /** One open response: its head, and its body read as the server writes it. */
    private class ConnectionBody(private val connection: HttpURLConnection) : HttpBodyStream {
        private val status = connection.responseCode
        private val input = if (status >= 400) connection.errorStream else connection.inputStream

        override fun status(): UShort = status.toUShort()

        override fun headers(): List<HttpHeader> = connection.headerFields.flatMap { (name, values) ->
            // The status line comes back under the null key.
            if (name == null) emptyList() else values.map { HttpHeader(name, it) }
        }

        override fun read(): ByteArray? {
            val stream = input ?: return null
            val buf = ByteArray(8192)
            val n = try {
                stream.read(buf)
            } catch (e: IOException) {
                throw AuthException.Network("the event stream broke: $e")
            }
            return if (n < 0) null else buf.copyOf(n)
        }

        override fun cancel() {
            // Closes the socket: a read blocked on the SDK's thread ends with an exception.
            connection.disconnect()
        }
    }
}
