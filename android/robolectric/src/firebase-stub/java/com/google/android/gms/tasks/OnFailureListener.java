// COMPILE-ONLY STUB of play-services-tasks; see com/google/firebase/messaging/EnhancedIntentService.java.
package com.google.android.gms.tasks;

public interface OnFailureListener {
    void onFailure(Exception e);
}
