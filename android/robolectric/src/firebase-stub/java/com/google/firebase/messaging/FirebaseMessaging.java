// COMPILE-ONLY STUB of firebase-messaging 24.x; see EnhancedIntentService.java. There is no
// Firebase app here: getToken() fails the way the real one does without a configured app.
package com.google.firebase.messaging;

import com.google.android.gms.tasks.OnFailureListener;
import com.google.android.gms.tasks.OnSuccessListener;
import com.google.android.gms.tasks.Task;

public class FirebaseMessaging {
    private static final FirebaseMessaging INSTANCE = new FirebaseMessaging();

    private FirebaseMessaging() {}

    public static synchronized FirebaseMessaging getInstance() {
        return INSTANCE;
    }

    public Task<String> getToken() {
        return new FailedTask<>(new IllegalStateException("Default FirebaseApp is not initialized (compile-only stub)"));
    }

    /** Stub only: a task that has already failed. */
    private static final class FailedTask<T> extends Task<T> {
        private final Exception e;

        FailedTask(Exception e) {
            this.e = e;
        }

        @Override public boolean isComplete() { return true; }
        @Override public boolean isSuccessful() { return false; }
        @Override public T getResult() { throw new IllegalStateException(e); }
        @Override public Exception getException() { return e; }
        @Override public Task<T> addOnSuccessListener(OnSuccessListener<? super T> listener) { return this; }
        @Override public Task<T> addOnFailureListener(OnFailureListener listener) { listener.onFailure(e); return this; }
    }
}
