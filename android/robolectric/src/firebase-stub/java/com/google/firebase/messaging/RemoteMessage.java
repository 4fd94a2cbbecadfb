// COMPILE-ONLY STUB of firebase-messaging 24.x; see EnhancedIntentService.java. Like the real
// class, the message is a Bundle and getData() is its string entries minus FCM's own keys.
package com.google.firebase.messaging;

import android.os.Bundle;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

public final class RemoteMessage {
    private final Bundle bundle;

    public RemoteMessage(Bundle bundle) {
        this.bundle = bundle;
    }

    public Map<String, String> getData() {
        Map<String, String> data = new HashMap<>();
        for (String key : bundle.keySet()) {
            Object value = bundle.get(key);
            if (value instanceof String && !key.startsWith("google.") && !key.startsWith("gcm.")
                    && !key.equals("from") && !key.equals("message_type") && !key.equals("collapse_key")) {
                data.put(key, (String) value);
            }
        }
        return Collections.unmodifiableMap(data);
    }

    public String getMessageId() {
        return bundle.getString("google.message_id");
    }

    public String getFrom() {
        return bundle.getString("from");
    }

    public static class Builder {
        private final Bundle bundle = new Bundle();
        private final Map<String, String> data = new HashMap<>();

        public Builder(String to) {
            bundle.putString("google.to", to);
        }

        public Builder setData(Map<String, String> data) {
            this.data.clear();
            this.data.putAll(data);
            return this;
        }

        public Builder addData(String key, String value) {
            data.put(key, value);
            return this;
        }

        public Builder setMessageId(String messageId) {
            bundle.putString("google.message_id", messageId);
            return this;
        }

        public RemoteMessage build() {
            Bundle out = new Bundle(bundle);
            for (Map.Entry<String, String> e : data.entrySet()) {
                out.putString(e.getKey(), e.getValue());
            }
            return new RemoteMessage(out);
        }
    }
}
