"""Spanish for every text of app/measures, by English msgid, for the catalog (app/translations/es).

PUBLISHED: the Pfizer US Spanish PHQ-9 and GAD-7 forms (phqscreeners.com), word for word.
PRODUCT: the app's own texts around them (titles, bands, messages, how each figure is measured), not published.
"""

PUBLISHED = {
    "Over the last 2 weeks, how often have you been bothered by any of the following problems?": (
        "Durante las últimas 2 semanas, ¿qué tan seguido ha tenido molestias debido a los siguientes problemas?"
    ),
    "Not at all": "Ningún día",
    "Several days": "Varios días",
    "More than half the days": "Más de la mitad de los días",
    "Nearly every day": "Casi todos los días",
    "Little interest or pleasure in doing things": "Poco interés o placer en hacer cosas",
    "Feeling down, depressed, or hopeless": "Se ha sentido decaído(a), deprimido(a) o sin esperanzas",
    "Trouble falling or staying asleep, or sleeping too much": (
        "Ha tenido dificultad para quedarse o permanecer dormido(a), o ha dormido demasiado"
    ),
    "Feeling tired or having little energy": "Se ha sentido cansado(a) o con poca energía",
    "Poor appetite or overeating": "Sin apetito o ha comido en exceso",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your family down": (
        "Se ha sentido mal con usted mismo(a) – o que es un fracaso o que ha quedado mal con usted mismo(a) o con "
        "su familia"
    ),
    "Trouble concentrating on things, such as reading the newspaper or watching television": (
        "Ha tenido dificultad para concentrarse en ciertas actividades, tales como leer el periódico o ver la "
        "televisión"
    ),
    (
        "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so fidgety or "
        "restless that you have been moving around a lot more than usual"
    ): (
        "¿Se ha movido o hablado tan lento que otras personas podrían haberlo notado? o lo contrario – muy "
        "inquieto(a) o agitado(a) que ha estado moviéndose mucho más de lo normal"
    ),
    "Thoughts that you would be better off dead, or of hurting yourself in some way": (
        "Pensamientos de que estaría mejor muerto(a) o de lastimarse de alguna manera"
    ),
    "Feeling nervous, anxious, or on edge": "Se ha sentido nervioso(a), ansioso(a) o con los nervios de punta",
    "Not being able to stop or control worrying": "No ha sido capaz de parar o controlar su preocupación",
    "Worrying too much about different things": "Se ha preocupado demasiado por motivos diferentes",
    "Trouble relaxing": "Ha tenido dificultad para relajarse",
    "Being so restless that it is hard to sit still": (
        "Se ha sentido tan inquieto(a) que no ha podido quedarse quieto(a)"
    ),
    "Becoming easily annoyed or irritable": "Se ha molestado o irritado fácilmente",
    "Feeling afraid, as if something awful might happen": "Ha tenido miedo de que algo terrible fuera a pasar",
    (
        "If you checked off any problems, how difficult have these problems made it for you to do your work, take "
        "care of things at home, or get along with other people?"
    ): (
        "Si marcó cualquiera de los problemas, ¿qué tanta dificultad le han dado estos problemas para hacer su "
        "trabajo, encargarse de las tareas del hogar, o llevarse bien con otras personas?"
    ),
    "Not difficult at all": "No ha sido difícil",
    "Somewhat difficult": "Un poco difícil",
    "Very difficult": "Muy difícil",
    "Extremely difficult": "Extremadamente difícil",
    (
        "Developed by Drs. Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and colleagues, with an educational "
        "grant from Pfizer Inc. No permission required to reproduce, translate, display or distribute."
    ): (
        "Elaborado por los doctores Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke y colegas, mediante una "
        "subvención educativa otorgada por Pfizer Inc. No se requiere permiso para reproducir, traducir, presentar "
        "o distribuir."
    ),
    "Patient Health Questionnaire (PHQ-9)": "Cuestionario sobre la salud del paciente (PHQ-9)",
}

PRODUCT = {
    "Generalized Anxiety Disorder scale (GAD-7)": "Escala del trastorno de ansiedad generalizada (GAD-7)",
    "Minimal": "Mínima",
    "Mild": "Leve",
    "Moderate": "Moderada",
    "Moderately severe": "Moderadamente grave",
    "Severe": "Grave",
    "Answer every question.": "Responde todas las preguntas.",
    "Answer all %(count)d questions.": "Responde las %(count)d preguntas.",
    "Answer question %(number)d.": "Responde la pregunta %(number)d.",
    "Question %(number)d needs one of the four answers.": (
        "La pregunta %(number)d necesita una de las cuatro respuestas."
    ),
    "Choose one of the four answers.": "Elige una de las cuatro respuestas.",
    "The first score given on this questionnaire.": "La primera puntuación dada en este cuestionario.",
    "The most recent score given on this questionnaire.": (
        "La puntuación más reciente dada en este cuestionario."
    ),
    "The latest score minus the first. A negative number means fewer symptoms.": (
        "La puntuación más reciente menos la primera. Un número negativo significa menos síntomas."
    ),
    (
        "The Reliable Change Index divides the change by the change that measurement error alone could cause, using "
        "the questionnaire's test-retest reliability (r = %(r)s) and the spread of scores (standard deviation "
        "%(sd)s). Beyond 1.96 either way, the change is unlikely to be chance (95%% level)."
    ): (
        "El índice de cambio fiable divide el cambio entre el cambio que podría causar solo el error de medida, "
        "usando la fiabilidad test-retest del cuestionario (r = %(r)s) y la dispersión de las puntuaciones "
        "(desviación estándar %(sd)s). Más allá de 1,96 en cualquier sentido, es poco probable que el cambio se deba "
        "al azar (nivel del 95%%)."
    ),
    (
        "The score fell by %(points)d points or more since the first score, the change NHS Talking Therapies counts "
        "as reliable improvement."
    ): (
        "La puntuación bajó %(points)d puntos o más desde la primera, el cambio que NHS Talking Therapies considera "
        "una mejoría fiable."
    ),
    (
        "The score rose by %(points)d points or more since the first score, the change NHS Talking Therapies counts "
        "as reliable deterioration."
    ): (
        "La puntuación subió %(points)d puntos o más desde la primera, el cambio que NHS Talking Therapies considera "
        "un empeoramiento fiable."
    ),
    "A score of %(cutoff)d or more is at the level where services usually offer treatment.": (
        "Una puntuación de %(cutoff)d o más está en el nivel en el que los servicios suelen ofrecer tratamiento."
    ),
    "The first score was %(cutoff)d or more and the latest is below %(cutoff)d.": (
        "La primera puntuación fue de %(cutoff)d o más y la más reciente es menor de %(cutoff)d."
    ),
    "Recovery together with reliable improvement.": "Recuperación junto con una mejoría fiable.",
    "The latest score is half the first score or less.": (
        "La puntuación más reciente es la mitad de la primera o menos."
    ),
    "The latest score is below %(below)d, the range of few or no symptoms.": (
        "La puntuación más reciente es menor de %(below)d, el rango de pocos o ningún síntoma."
    ),
}
