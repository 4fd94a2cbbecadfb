// COMPILE-ONLY STUB of play-services-tasks; see com/google/firebase/messaging/EnhancedIntentService.java.
package com.google.android.gms.tasks;

public interface OnSuccessListener<TResult> {
    void onSuccess(TResult result);
}
