// The page's own words in a few languages (page.language); other languages fall back to English.
const WORDS = {
  en: {
    ready: 'Ready to call', connecting: 'Connecting…', live: 'On call', error: 'Error',
    call: 'Call', hangup: 'Hang up', mute: 'Mute', unmute: 'Unmute', keypad: 'Keypad',
    listening: 'Listening…', thinking: 'Thinking…', speaking: 'Speaking — talk over me to interrupt',
    hearing: 'Listening…', idleState: 'Press call and say what you need', ended: 'Call ended',
    failed: 'Call failed', retry: 'Call again', conversation: 'Conversation', tasks: 'Your tasks',
    noTasks: 'No tasks yet', mic: 'Microphone', speaker: 'Speaker', muted: 'Muted', hold: 'On hold',
    interrupted: 'interrupted', pressed: 'Pressed', lost: 'The connection to callport was lost.',
    crashed: 'The call failed on the server', connect: 'Connect to callport',
    connectHint: 'Sign in to callport once to call from this site.', micBlocked: 'Microphone blocked',
    notConnected: 'Not connected', defaultDevice: 'Default',
  },
  de: {
    ready: 'Bereit', connecting: 'Verbinde…', live: 'Im Gespräch', error: 'Fehler',
    call: 'Anrufen', hangup: 'Auflegen', mute: 'Stumm', unmute: 'Ton an', keypad: 'Tastatur',
    listening: 'Ich höre zu…', thinking: 'Einen Moment…', speaking: 'Ich spreche — unterbrich mich jederzeit',
    hearing: 'Ich höre zu…', idleState: 'Drück auf Anrufen und sag, was du brauchst', ended: 'Gespräch beendet',
    failed: 'Anruf fehlgeschlagen', retry: 'Erneut anrufen', conversation: 'Gespräch', tasks: 'Deine Aufgaben',
    noTasks: 'Noch keine Aufgaben', mic: 'Mikrofon', speaker: 'Lautsprecher', muted: 'Stumm', hold: 'Gehalten',
    interrupted: 'unterbrochen', pressed: 'Gedrückt', lost: 'Die Verbindung zu callport ist abgebrochen.',
    crashed: 'Der Anruf ist auf dem Server fehlgeschlagen', connect: 'Mit callport verbinden',
    connectHint: 'Melde dich einmal bei callport an, um von dieser Seite aus anzurufen.',
    micBlocked: 'Mikrofon blockiert', notConnected: 'Nicht verbunden', defaultDevice: 'Standard',
  },
  es: {
    ready: 'Listo para llamar', connecting: 'Conectando…', live: 'En llamada', error: 'Error',
    call: 'Llamar', hangup: 'Colgar', mute: 'Silenciar', unmute: 'Activar', keypad: 'Teclado',
    listening: 'Escuchando…', thinking: 'Pensando…', speaking: 'Hablando — puedes interrumpirme',
    hearing: 'Escuchando…', idleState: 'Pulsa llamar y di lo que necesitas', ended: 'Llamada terminada',
    failed: 'La llamada falló', retry: 'Llamar de nuevo', conversation: 'Conversación', tasks: 'Tus tareas',
    noTasks: 'Aún no hay tareas', mic: 'Micrófono', speaker: 'Altavoz', muted: 'Silenciado', hold: 'En espera',
    interrupted: 'interrumpido', pressed: 'Pulsado', lost: 'Se perdió la conexión con callport.',
    crashed: 'La llamada falló en el servidor', connect: 'Conectar con callport',
    connectHint: 'Inicia sesión en callport una vez para llamar desde este sitio.',
    micBlocked: 'Micrófono bloqueado', notConnected: 'Sin conexión', defaultDevice: 'Predeterminado',
  },
  fr: {
    ready: 'Prêt à appeler', connecting: 'Connexion…', live: 'En appel', error: 'Erreur',
    call: 'Appeler', hangup: 'Raccrocher', mute: 'Couper le micro', unmute: 'Réactiver', keypad: 'Clavier',
    listening: 'J’écoute…', thinking: 'Je réfléchis…', speaking: 'Je parle — interrompez-moi quand vous voulez',
    hearing: 'J’écoute…', idleState: 'Appuyez sur appeler et dites ce qu’il vous faut', ended: 'Appel terminé',
    failed: 'Échec de l’appel', retry: 'Rappeler', conversation: 'Conversation', tasks: 'Vos tâches',
    noTasks: 'Aucune tâche', mic: 'Micro', speaker: 'Haut-parleur', muted: 'Micro coupé',
    interrupted: 'interrompu', pressed: 'Touche', lost: 'La connexion à callport a été perdue.',
    crashed: 'L’appel a échoué sur le serveur', connect: 'Se connecter à callport',
    connectHint: 'Connectez-vous une fois à callport pour appeler depuis ce site.',
    micBlocked: 'Micro bloqué', notConnected: 'Non connecté', defaultDevice: 'Par défaut',
  },
};

export function words(language) {
  const base = String(language || 'en').toLowerCase().split('-')[0];
  return { ...WORDS.en, ...(WORDS[base] || {}) };
}
