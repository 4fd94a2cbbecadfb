// COMPILE-ONLY STUB of firebase-messaging 24.x (Google's Maven is not reachable from CI): the
// members the Tapprove FCM adapter uses, with their real signatures. Never packaged; the Gradle
// build of android/ uses the real com.google.firebase:firebase-messaging.
package com.google.firebase.messaging;

import android.app.Service;
import android.content.Intent;
import android.os.IBinder;

public abstract class EnhancedIntentService extends Service {
    @Override
    public final IBinder onBind(Intent intent) {
        return null;
    }
}
